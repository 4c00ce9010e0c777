package mesh

import (
	"testing"
	"time"
)

func TestFanout(t *testing.T) {
	newFanout := func(t *testing.T) *Topic {
		cfg := testConfig()
		cfg.FloodPublish = false
		tp := newTopic(t, cfg)
		withPeers(t, tp, 10)
		tp.Publish(t0, "m", msg(1))
		if n := len(tp.FanoutPeers()); n != 6 {
			t.Fatalf("fanout %d, want D", n)
		}
		return tp
	}
	t.Run("DropFanoutPeers: kept until FanoutTTL", func(t *testing.T) {
		tp := newFanout(t)
		tp.Heartbeat(t0.Add(60 * time.Second))
		if len(tp.FanoutPeers()) == 0 {
			t.Fatal("dropped at the TTL")
		}
	})
	t.Run("DropFanoutPeers: dropped after FanoutTTL without publish", func(t *testing.T) {
		tp := newFanout(t)
		tp.Heartbeat(t0.Add(61 * time.Second))
		if len(tp.FanoutPeers()) != 0 {
			t.Fatal("fanout kept past the TTL")
		}
	})
	t.Run("ReplenishFanout: topped up to D when below Dlo", func(t *testing.T) {
		tp := newFanout(t)
		for _, id := range tp.FanoutPeers()[:3] {
			tp.RemovePeer(t0, id)
		}
		tp.Heartbeat(t0.Add(time.Second))
		if n := len(tp.FanoutPeers()); n != 6 {
			t.Fatalf("fanout %d after replenish, want 6", n)
		}
	})
	t.Run("ReplenishFanout: not below Dlo, unchanged", func(t *testing.T) {
		tp := newFanout(t)
		tp.RemovePeer(t0, tp.FanoutPeers()[0])
		tp.Heartbeat(t0.Add(time.Second))
		if n := len(tp.FanoutPeers()); n != 5 {
			t.Fatalf("fanout %d, want 5 (≥ Dlo)", n)
		}
	})
	t.Run("ReplenishFanout: never negative-publish or direct peers", func(t *testing.T) {
		cfg := testConfig()
		cfg.FloodPublish = false
		tp := newTopic(t, cfg)
		withPeers(t, tp, 3)
		tp.SetScore(pid(0), -1001)
		setDirect(tp, 1)
		tp.Publish(t0, "m", msg(1))
		if got := tp.FanoutPeers(); len(got) != 1 || got[0] != pid(2) {
			t.Fatalf("fanout %v", got)
		}
	})
	t.Run("Join seeds the mesh from the fanout", func(t *testing.T) {
		tp := newFanout(t)
		fan := sortedIDs(tp.FanoutPeers())
		fx := tp.Join(t0)
		if got := sortedIDs(tp.MeshPeers()); len(got) != 6 || !equalIDs(got, fan) {
			t.Fatalf("mesh %v, fanout was %v", got, fan)
		}
		if len(fx.Grafts) != 6 || len(tp.FanoutPeers()) != 0 {
			t.Fatalf("grafts %v fanout %v", fx.Grafts, tp.FanoutPeers())
		}
	})
}
