package peermanager

import (
	"strings"
	"testing"
	"time"
)

func TestCalculateBackoff(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		want     time.Duration
	}{
		{"no failure, no backoff", 0, 0},
		{"first failure waits the initial backoff", 1, 120 * time.Second},
		{"second failure ×4", 2, 480 * time.Second},
		{"third failure ×16", 3, 1920 * time.Second},
		{"fourth failure ×64", 4, 7680 * time.Second},
		{"negative counts as none", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CalculateBackoff(120*time.Second, 4, tt.failures); got != tt.want {
				t.Fatalf("CalculateBackoff(120s, 4, %d) = %s, want %s", tt.failures, got, tt.want)
			}
		})
	}
	t.Run("saturates instead of overflowing", func(t *testing.T) {
		if got := CalculateBackoff(time.Hour, 1000, 40); got <= 0 {
			t.Fatalf("overflowed to %s", got)
		}
	})
}

func TestRelayTargets(t *testing.T) {
	tests := []struct {
		name               string
		maxConns, maxRelay int
		wantRelay, wantOut int
		wantIn             int
	}{
		{"seed defaults: 50 connections → 40 relay, 13 out, 27 in", 50, 0, 40, 13, 27},
		{"out is a third of relay", 100, 0, 80, 26, 54},
		{"out is at least 10", 20, 0, 16, 10, 6},
		{"MaxRelayPeers overrides the 80% rule", 50, 30, 30, 10, 20},
		{"12 relay peers: nwaku's 10 out, 2 in", 15, 0, 12, 10, 2},
		{"11 relay peers: a fifth stays inbound", 13, 0, 11, 9, 2},
		{"10 connections → 8 relay: 7 out, 1 in", 10, 0, 8, 7, 1},
		{"4 connections → 4 relay: 3 out, 1 in", 4, 0, 4, 3, 1},
		{"2 connections: 1 out, 1 in", 2, 0, 2, 1, 1},
		{"1 connection: 1 out", 1, 0, 1, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.MaxConnections, c.MaxRelayPeers = tt.maxConns, tt.maxRelay
			got := c.RelayTargets()
			want := Targets{MaxRelayPeers: tt.wantRelay, OutRelayPeers: tt.wantOut, InRelayPeers: tt.wantIn}
			if got != want {
				t.Fatalf("RelayTargets() = %+v, want %+v", got, want)
			}
		})
	}
}

// OutRelayPeers sets the outbound target (small test networks, where the
// derived one is more than half the network); an inbound slot stays.
func TestRelayTargetsOutRelayPeers(t *testing.T) {
	for _, tt := range []struct {
		maxConns, out, wantOut, wantIn int
	}{{12, 3, 3, 7}, {50, 20, 20, 20}, {10, 8, 7, 1}, {1, 1, 1, 0}} {
		c := DefaultConfig()
		c.MaxConnections, c.OutRelayPeers = tt.maxConns, tt.out
		if got := c.RelayTargets(); got.OutRelayPeers != tt.wantOut || got.InRelayPeers != tt.wantIn {
			t.Fatalf("MaxConnections %d OutRelayPeers %d: %+v, want out %d in %d", tt.maxConns, tt.out, got, tt.wantOut, tt.wantIn)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string // "" = valid
	}{
		{"defaults are valid", func(*Config) {}, ""},
		{"max connections above store capacity", func(c *Config) { c.MaxConnections = 300 }, "MaxConnections"},
		{"max relay peers above max connections", func(c *Config) { c.MaxRelayPeers = 51 }, "MaxRelayPeers"},
		{"largest backoff over a week", func(c *Config) { c.BackoffFactor = 10; c.MaxFailedAttempts = 6 }, "over 1 week"},
		{"largest backoff of exactly the default is fine", func(c *Config) { c.MaxFailedAttempts = 5 }, ""},
		{"fewer relay peers than the mesh's Dhi work (light nodes)", func(c *Config) { c.MaxRelayPeers = 6 }, ""},
		{"zero max connections", func(c *Config) { c.MaxConnections = 0 }, "MaxConnections"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, "DialTimeout"},
		{"zero load timeout", func(c *Config) { c.LoadTimeout = 0 }, "LoadTimeout"},
		{"negative colocation limit", func(c *Config) { c.ColocationLimit = -1 }, "ColocationLimit"},
		{"colocation limit 0 disables", func(c *Config) { c.ColocationLimit = 0 }, ""},
		{"bad whitelist entry", func(c *Config) { c.ColocationWhitelist = []string{"not-an-ip"} }, "ColocationWhitelist"},
		{"whitelist accepts IPs and prefixes", func(c *Config) { c.ColocationWhitelist = []string{"127.0.0.1", "10.0.0.0/8"} }, ""},
		{"relay codec must be a protocol id", func(c *Config) { c.RelayCodec = "relay" }, "RelayCodec"},
		{"hard store size below capacity", func(c *Config) { c.MaxPeerStoreSize = 10 }, "MaxPeerStoreSize"},
		{"zero static backoff", func(c *Config) { c.StaticInitialBackoff = 0 }, "StaticInitialBackoff"},
		{"static cap below the static initial backoff", func(c *Config) { c.StaticMaxBackoff = time.Second }, "StaticMaxBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.field != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error naming %s", tt.field)
			case tt.field != "" && !strings.Contains(err.Error(), tt.field):
				t.Fatalf("Validate() = %v, want it to name %s", err, tt.field)
			}
		})
	}
}

// TestSmallMaxConnectionsWork (issue 10, item 4): every MaxConnections from
// 1 to 20 validates, and gives at least one outbound relay peer and, from 2
// relay peers on, at least one inbound one.
func TestSmallMaxConnectionsWork(t *testing.T) {
	for n := 1; n <= 20; n++ {
		c := DefaultConfig()
		c.MaxConnections = n
		if err := c.Validate(); err != nil {
			t.Fatalf("MaxConnections %d: %v", n, err)
		}
		tg := c.RelayTargets()
		if tg.OutRelayPeers < 1 || tg.InRelayPeers < 0 || tg.OutRelayPeers+tg.InRelayPeers != tg.MaxRelayPeers ||
			(tg.MaxRelayPeers >= 2 && tg.InRelayPeers < 1) {
			t.Fatalf("MaxConnections %d: targets %+v", n, tg)
		}
		if _, err := NewManager(c, pid(self)); err != nil {
			t.Fatalf("MaxConnections %d: %v", n, err)
		}
	}
}
