package attacks

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/wire"
)

// TestSlowReader (b.34 R4): a real peer in node 0's mesh (QUIC on the
// simulated network) stops reading its streams while node 1 publishes
// 100 KiB messages at 1 MiB/s. Node 0's outbound queue stays under its cap
// (sampled every heartbeat), what cannot be sent is dropped and counted,
// the blocked write fails at WriteTimeout — not before — and ends the
// session with a behaviour penalty: the peer leaves the mesh and is not
// grafted again while its score is negative, although it keeps asking.
// The honest nodes get every message, and their p99 latency stays within
// 10 % of the same load before the peer stopped reading.
func TestSlowReader(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku, attacker: attacker.Config{Join: []string{topic}}})
		target := c.meshAttacker(0)
		cfg := c.Nodes[0].Config.Session
		const size, perBeat = 100 << 10, 10
		load := func(beats int) []string {
			var all []string
			for range beats {
				batch := c.PublishSized(1, perBeat, size)
				c.ExpectDelivered(batch, deliveryTimeout) // stamps each delivery when it happens
				all = append(all, batch...)
				c.Heartbeats(1)
				if q := c.Metric(0, "libp2p_pubsub_queue_bytes"); q > float64(cfg.MaxQueueBytes) {
					t.Fatalf("node 0's outbound queue holds %v bytes, cap %d", q, cfg.MaxQueueBytes)
				}
			}
			return all
		}
		_, base := c.Latency(load(3))
		stopped := time.Now()
		c.atk.StopReading(target)
		slow := load(11) // 11 MB: more than the transport's receive window (10 MB)
		_, p99 := c.Latency(slow)
		dropped := c.Metric(0, "libp2p_pubsub_queue_drops_total") + c.Metric(0, "libp2p_pubsub_queue_expired_total")
		t.Logf("honest p99: %s before, %s with the slow reader; node 0 dropped %v queued items", base, p99, dropped)
		if p99 > base+base/10 {
			t.Errorf("honest p99 %s with a slow reader, %s before: more than 10 %% worse", p99, base)
		}
		if dropped == 0 {
			t.Error("nothing dropped for a peer that stopped reading")
		}
		// The blocked write fails at WriteTimeout, not before: the session
		// ends with a penalty, the peer leaves the mesh and, scored below
		// zero, is not grafted again although it keeps asking.
		var failedAt time.Duration
		for range 2 * int(cfg.WriteTimeout/time.Second) {
			c.PublishSized(1, 1, size/10)
			c.Heartbeats(1)
			if c.Metric(0, "libp2p_gossipsub_behaviour_penalties_total", "reason", "write_timeout") > 0 {
				failedAt = time.Since(stopped)
				break
			}
		}
		if failedAt < cfg.WriteTimeout {
			t.Fatalf("write timeout charged %s after the peer stopped reading (0: never), WriteTimeout is %s", failedAt, cfg.WriteTimeout)
		}
		for range 30 {
			c.PublishSized(1, 1, size/10)
			c.Heartbeats(1)
			if c.InMesh(0, c.atk.ID()) {
				t.Fatalf("node 0 grafted the slow reader again %s after it stopped reading", time.Since(stopped))
			}
		}
		s := c.Score(0, c.atk.ID())
		t.Logf("write timeout %s after the peer stopped reading; 30 s later: score %.1f, %v outbound reopens, out of the mesh",
			failedAt, s.GetScore(), c.Metric(0, "libp2p_pubsub_outbound_reopens_total"))
		if s.GetScore() >= 0 {
			t.Errorf("slow reader scored %.1f, want < 0", s.GetScore())
		}
		if r := c.Metric(0, "libp2p_pubsub_outbound_reopens_total"); r != 0 {
			t.Errorf("%v outbound streams reopened to a peer that does not read", r)
		}
		c.ExpectDelivered(slow, deliveryTimeout)
	})
}
