package dialer

import (
	"strings"
	"testing"
	"time"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if c := DefaultConfig(); c.MaxInFlight != 10 || c.MaxQueued != 1000 || c.DialTimeout != 10*time.Second {
		t.Fatalf("defaults %+v differ from issue 3 (10 in flight, 1000 queued, 10 s)", c)
	}
}

// TestConfigValidateNamesTheField: one row per field rule.
func TestConfigValidateNamesTheField(t *testing.T) {
	rows := []struct {
		field  string
		mutate func(*Config)
	}{
		{"MaxInFlight", func(c *Config) { c.MaxInFlight = 0 }},
		{"MaxQueued", func(c *Config) { c.MaxQueued = -1 }},
		{"MaxWaitersPerDial", func(c *Config) { c.MaxWaitersPerDial = 0 }},
		{"MaxAddresses", func(c *Config) { c.MaxAddresses = 0 }},
		{"DialTimeout", func(c *Config) { c.DialTimeout = 0 }},
		{"MaxDialTimeout", func(c *Config) { c.MaxDialTimeout = time.Second }},
	}
	for _, row := range rows {
		t.Run(row.field, func(t *testing.T) {
			c := DefaultConfig()
			row.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), row.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, row.field)
			}
		})
	}
}

// TestLabelTablesCoverTheEnums guards the metric label tables against a new
// enum value added to dialer.proto.
func TestLabelTablesCoverTheEnums(t *testing.T) {
	if len(dialerv1.DialOutcome_name) != numOutcomes {
		t.Errorf("DialOutcome has %d values, label table %d", len(dialerv1.DialOutcome_name), numOutcomes)
	}
	if len(dialerv1.DialSource_name) != numSources {
		t.Errorf("DialSource has %d values, label table %d", len(dialerv1.DialSource_name), numSources)
	}
	for r := RejectNone; r < numRejectReasons; r++ {
		if r.String() == "unknown" {
			t.Errorf("RejectReason %d has no label", r)
		}
	}
}
