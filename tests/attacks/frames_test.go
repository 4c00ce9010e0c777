package attacks

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/wire"
)

// TestMalformedFrames (b.1 M1–M4): each malformed frame makes node 0 reset
// the attacker's stream, counted by reason, before allocating what a length
// prefix declares (a 16 MiB prefix leaves the heap flat). The attacker can
// open a new stream after each reset, and honest delivery is untouched.
func TestMalformedFrames(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 3, profile: wire.ProfileWaku})
		target := c.connectAttacker(0)
		truncated, err := attacker.TruncatedFrame(attacker.GraftRPC(topic), 3)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		before := heap()
		var published []string
		for _, tc := range []struct {
			name, reason string
			raw          []byte
			fin          bool
		}{
			{name: "16 MiB length prefix", reason: "too_large", raw: attacker.OversizedPrefix(16 << 20)},
			{name: "2^63 length prefix", reason: "too_large", raw: attacker.OversizedPrefix(1 << 63)},
			{name: "11-byte varint", reason: "varint_overflow", raw: attacker.VarintOverflow()},
			{name: "truncated frame then FIN", reason: "truncated", raw: truncated, fin: true},
			{name: "undecodable body", reason: "malformed", raw: attacker.GarbageFrame()},
			{name: "random bodies", reason: "malformed", raw: append(attacker.RandomFrames(rng, 50, 200), attacker.GarbageFrame()...)},
		} {
			rejected := c.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", tc.reason)
			if err := c.atk.Open(context.Background(), target); err != nil {
				t.Fatalf("%s: reopen: %v", tc.name, err)
			}
			if err := c.atk.SendRaw(target, tc.raw); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if tc.fin {
				if err := c.atk.CloseWrite(target); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := c.atk.WaitFor(ctx, target, func(r attacker.Record) bool { return r.OutboundClosed })
			cancel()
			if err != nil {
				t.Fatalf("%s: node 0 did not reset the stream: %v", tc.name, err)
			}
			if d := c.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", tc.reason) - rejected; d != 1 {
				t.Fatalf("%s: %v rejections counted as %q, want 1", tc.name, d, tc.reason)
			}
			published = append(published, c.Publish(2)...)
			c.Heartbeats(1)
		}
		c.ExpectDelivered(published, deliveryTimeout)
		c.expectHeapGrowth(before, 2<<20, "malformed frames")
	})
}
