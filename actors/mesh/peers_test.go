package mesh

import (
	"testing"
	"time"

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
