package router_test

import (
	"math"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/wire"
)

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(c *router.Config)
		want   string // a word of the error; "" for valid
	}{
		{"defaults are valid", func(*router.Config) {}, ""},
		{"DirectConnectTicks must be > 0", func(c *router.Config) { c.DirectConnectTicks = 0 }, "DirectConnectTicks"},
		{"a direct peer needs an id", func(c *router.Config) { c.DirectPeers = []peer.AddrInfo{{}} }, "DirectPeers[0]"},
		{"PenaltyMalformedFrame must be ≥ 0", func(c *router.Config) { c.PenaltyMalformedFrame = -1 }, "PenaltyMalformedFrame"},
		{"PenaltyMalformedFrame must be finite", func(c *router.Config) { c.PenaltyMalformedFrame = math.Inf(1) }, "PenaltyMalformedFrame"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := router.DefaultConfig(wire.ProfileLibp2p)
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}
