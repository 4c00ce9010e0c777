package mesh

import (
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestRebalanceMesh(t *testing.T) {
	tests := []struct {
		name  string
		peers int
		setup func(tp *Topic)
		check func(t *testing.T, tp *Topic, fx *Effects)
	}{
		{
			name:  "below Dlo: graft up to D, best score first",
			peers: 10,
			setup: func(tp *Topic) {
				for i := range 10 {
					tp.SetScore(pid(i), float64(i))
				}
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				got := slices.Clone(fx.Grafts)
				slices.Sort(got)
				want := []peer.ID{pid(4), pid(5), pid(6), pid(7), pid(8), pid(9)}
				if !slices.Equal(got, want) {
					t.Errorf("grafted %v, want the 6 best %v", got, want)
				}
			},
		},
		{
			name:  "below Dlo: never negative, direct, backed-off or meshed peers",
			peers: 8,
			setup: func(tp *Topic) {
				graftN(tp, 0, 1)
				tp.SetScore(pid(1), -1)
				setDirect(tp, 2)
				tp.UpdateBackoff(t0, pid(3), 60e9)
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				got := slices.Clone(fx.Grafts)
				slices.Sort(got)
				want := []peer.ID{pid(4), pid(5), pid(6), pid(7)}
				if !slices.Equal(got, want) {
					t.Errorf("grafted %v, want %v", got, want)
				}
			},
		},
		{
			name:  "within [Dlo, Dhi] with Dout satisfied: nothing",
			peers: 12,
			setup: func(tp *Topic) {
				for i := range 3 {
					tp.peers[pid(i)].Outbound = true
				}
				graftN(tp, 0, 7)
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				if !fx.Empty() {
					t.Errorf("effects %+v, want none", fx)
				}
			},
		},
		{
			name:  "outbound below Dout: graft outbound peers up to Dout",
			peers: 12,
			setup: func(tp *Topic) {
				graftN(tp, 0, 6)
				for i := 8; i < 12; i++ {
					tp.peers[pid(i)].Outbound = true
				}
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				if len(fx.Grafts) != 3 {
					t.Fatalf("grafted %v, want 3 outbound", fx.Grafts)
				}
				for _, id := range fx.Grafts {
					if !tp.peers[id].Outbound {
						t.Errorf("grafted inbound %s", string(id))
					}
				}
			},
		},
		{
			name:  "above Dhi: prune down to D keeping Dout outbound, then the best by score",
			peers: 12,
			setup: func(tp *Topic) {
				for i := range 12 {
					tp.SetScore(pid(i), float64(i))
				}
				// the three lowest-scoring peers are the outbound ones.
				for i := range 3 {
					tp.peers[pid(i)].Outbound = true
				}
				graftN(tp, 0, 12)
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				if n := len(tp.MeshPeers()); n != 6 {
					t.Fatalf("mesh %d peers, want D=6", n)
				}
				// Dscore (6) + Dout (3) > D (6): the 3 outbound peers replace
				// the lowest of the 6 best, the 3 best stay.
				for _, i := range []int{0, 1, 2, 9, 10, 11} {
					if !tp.InMesh(pid(i)) {
						t.Errorf("pruned %s", string(pid(i)))
					}
				}
				if tp.Stats().AboveDhiConditions != 1 {
					t.Error("above-Dhi condition not counted")
				}
				for _, p := range fx.Prunes {
					if p.Backoff != tp.cfg.PruneBackoff {
						t.Errorf("prune backoff %v", p.Backoff)
					}
					if _, ok := tp.BackoffUntil(p.To); !ok {
						t.Errorf("no backoff for pruned %s", string(p.To))
					}
				}
			},
		},
		{
			name:  "above Dhi: outbound peers kept up to Dout even when low-scoring",
			peers: 12,
			setup: func(tp *Topic) {
				cfg := tp.cfg
				cfg.Dscore = 0
				tp.cfg = cfg
				for i := range 3 {
					tp.peers[pid(i)].Outbound = true
				}
				graftN(tp, 0, 12)
			},
			check: func(t *testing.T, tp *Topic, fx *Effects) {
				if n := len(tp.MeshPeers()); n != 6 {
					t.Fatalf("mesh %d peers, want 6", n)
				}
				if tp.outboundInMesh() < 3 {
					t.Errorf("outbound in mesh %d, want ≥ Dout 3", tp.outboundInMesh())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), tt.peers)
			tt.setup(tp)
			tt.check(t, tp, tp.RebalanceMesh(t0))
		})
	}
}

func TestHeartbeatPrunesNegativeBeforeRebalance(t *testing.T) {
	tp := joinedTopic(t, testConfig(), 8)
	graftN(tp, 0, 6)
	tp.SetScore(pid(0), -5)
	fx := tp.Heartbeat(t0)
	if tp.InMesh(pid(0)) {
		t.Fatal("negative peer still in mesh")
	}
	if got := prunedTo(fx); !slices.Equal(got, []peer.ID{pid(0)}) {
		t.Fatalf("pruned %v, want [peer-000]", got)
	}
	if slices.Contains(fx.Grafts, pid(0)) {
		t.Fatal("negative peer re-grafted in the same heartbeat")
	}
}

func TestOpportunisticGraft(t *testing.T) {
	setup := func(t *testing.T) *Topic {
		cfg := testConfig()
		cfg.Thresholds.OpportunisticGraft = 5
		tp := joinedTopic(t, cfg, 10)
		graftN(tp, 0, 6) // scores 1 each: median 1 < 5
		for i := range 6 {
			tp.SetScore(pid(i), 1)
		}
		tp.SetScore(pid(6), 0.5) // below the median: never
		tp.SetScore(pid(7), 3)
		tp.SetScore(pid(8), 4)
		tp.SetScore(pid(9), 10)
		return tp
	}
	t.Run("every OpportunisticGraftTicks heartbeats: 2 peers above the median", func(t *testing.T) {
		tp := setup(t)
		tp.heartbeats = 59
		fx := tp.Heartbeat(t0) // the 60th
		if len(fx.Grafts) != 2 {
			t.Fatalf("grafted %v, want 2", fx.Grafts)
		}
		for _, id := range fx.Grafts {
			if tp.peers[id].Score <= 1 {
				t.Errorf("grafted %s with score %v ≤ median", string(id), tp.peers[id].Score)
			}
		}
	})
	t.Run("other heartbeats: none", func(t *testing.T) {
		tp := setup(t)
		tp.heartbeats = 10
		if fx := tp.Heartbeat(t0); len(fx.Grafts) != 0 {
			t.Fatalf("grafted %v", fx.Grafts)
		}
	})
	t.Run("median at or above threshold: none", func(t *testing.T) {
		tp := setup(t)
		for i := range 6 {
			tp.SetScore(pid(i), 6)
		}
		tp.heartbeats = 59
		if fx := tp.Heartbeat(t0); len(fx.Grafts) != 0 {
			t.Fatalf("grafted %v", fx.Grafts)
		}
	})
}

func TestRebalanceAboveDhiKeepsDscoreBest(t *testing.T) {
	cfg := DefaultConfig(ProfileLibp2p) // D 6, Dhi 12, Dscore 4, Dout 2
	tp := joinedTopic(t, cfg, 14)
	for i := range 14 {
		tp.SetScore(pid(i), float64(i))
	}
	tp.peers[pid(0)].Outbound = true
	tp.peers[pid(1)].Outbound = true
	graftN(tp, 0, 13)
	tp.RebalanceMesh(t0)
	if n := len(tp.MeshPeers()); n != 6 {
		t.Fatalf("mesh %d, want 6", n)
	}
	for _, i := range []int{0, 1, 9, 10, 11, 12} { // 2 outbound + the 4 best
		if !tp.InMesh(pid(i)) {
			t.Errorf("pruned %s", string(pid(i)))
		}
	}
}
