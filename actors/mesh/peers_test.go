package mesh

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

func TestPeerLifecycle(t *testing.T) {
	t.Run("departed peer without counters is forgotten at once", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.RemovePeer(t0, pid(0))
		if _, ok := tp.Counters(pid(0)); ok || len(tp.TopicPeers()) != 0 {
			t.Fatal("kept")
		}
	})
	t.Run("departed mesh peer keeps its counters (P3b) until they decay", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.Join(t0)
		tp.Heartbeat(t0.Add(11 * time.Second)) // P3 active, no deliveries
		tp.RemovePeer(t0.Add(11*time.Second), pid(0))
		c, ok := tp.Counters(pid(0))
		if !ok || c.MeshFailurePenalty != 1 || c.InMesh {
			t.Fatalf("counters %+v, kept %v", c, ok)
		}
		if reps := tp.AppendCounters(nil); len(reps) != 1 || reps[0].Peer != pid(0) {
			t.Fatalf("reports %+v", reps)
		}
		// 0.97 per 12 s decay down to 0.01: about 151 intervals.
		now := t0.Add(11 * time.Second)
		for range 200 {
			now = now.Add(12 * time.Second)
			tp.Heartbeat(now)
		}
		if _, ok := tp.Counters(pid(0)); ok {
			t.Fatal("departed peer never forgotten")
		}
	})
	t.Run("re-subscribing peer keeps its counters", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.peers[pid(0)].counters.InvalidMessageDeliveries = 3
		tp.RemovePeer(t0, pid(0))
		tp.AddPeer(t0, PeerAttrs{ID: pid(0)})
		if c, _ := tp.Counters(pid(0)); c.InvalidMessageDeliveries != 3 || len(tp.TopicPeers()) != 1 {
			t.Fatalf("counters %+v", c)
		}
	})
	t.Run("a mesh peer that becomes direct leaves the mesh", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 2)
		tp.Join(t0)
		setDirect(tp, 0)
		if tp.InMesh(pid(0)) || tp.nDirect != 1 {
			t.Fatalf("in mesh %v, direct %d", tp.InMesh(pid(0)), tp.nDirect)
		}
		tp.RemovePeer(t0, pid(0))
		if tp.nDirect != 0 {
			t.Fatal("direct count not decremented")
		}
	})
	t.Run("fanout peer that leaves is dropped from the fanout", func(t *testing.T) {
		cfg := testConfig()
		cfg.FloodPublish = false
		tp := newTopic(t, cfg)
		withPeers(t, tp, 3)
		tp.Publish(t0, "m", msg(1))
		tp.RemovePeer(t0, pid(1))
		if tp.InFanout(pid(1)) || len(tp.FanoutPeers()) != 2 {
			t.Fatalf("fanout %v", tp.FanoutPeers())
		}
	})
}

func TestWithScoreParams(t *testing.T) {
	p := score.DefaultLibp2pParams("x")
	c := DefaultConfig(ProfileWaku).WithScoreParams(p, "x").WithThresholds(score.DefaultLibp2pThresholds())
	if c.Score != p.Topics["x"] || c.ScoreDecayInterval != time.Second || c.ScoreDecayToZero != 0.1 || c.Thresholds.AcceptPX != 10 {
		t.Fatalf("%+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigDirectPeers(t *testing.T) {
	cfg := testConfig()
	cfg.DirectPeers = []peer.ID{pid(1)}
	cfg.FloodPublish = false     // so only the direct rule sends to a non-mesh peer
	tp := joinedTopic(t, cfg, 3) // withPeers passes Direct: false, as an adapter that does not know
	for _, tt := range []struct {
		name string
		id   peer.ID
		want bool
	}{
		{"configured: marked Direct by AddPeer", pid(1), true},
		{"not configured: as the adapter says", pid(0), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tp.peers[tt.id].Direct; got != tt.want {
				t.Errorf("Direct = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("re-subscribing without the flag keeps it Direct", func(t *testing.T) {
		tp.AddPeer(t0, PeerAttrs{ID: pid(1)})
		if !tp.peers[pid(1)].Direct || tp.nDirect != 1 {
			t.Errorf("Direct %v nDirect %d, want true 1", tp.peers[pid(1)].Direct, tp.nDirect)
		}
	})
	t.Run("never grafted, always published to", func(t *testing.T) {
		tp.RebalanceMesh(t0)
		if tp.InMesh(pid(1)) {
			t.Fatal("configured direct peer grafted")
		}
		fx := tp.Publish(t0, "m", msg(10))
		if len(fx.Sends) != 1 || !slices.Contains(fx.Sends[0].To, pid(1)) {
			t.Fatalf("publish did not go to the direct peer: %+v", fx.Sends)
		}
	})
}
