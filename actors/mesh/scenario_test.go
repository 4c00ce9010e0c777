package mesh

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

// router is the smallest stand-in for the router's score aggregation: P7 from
// Penalty effects, P1–P4 from the topic's counters, score.Score to combine.
type router struct {
	params score.Params
	p7     map[peer.ID]*score.PeerCounters
}

func newRouter(topic string) *router {
	p := score.DefaultWakuParams()
	p.Topics[topic] = score.StrictWakuTopicParams() // the scenarios exercise P3/P3b
	return &router{params: p, p7: map[peer.ID]*score.PeerCounters{}}
}

func (r *router) apply(fx *Effects) {
	for _, p := range fx.Penalties {
		pc := r.p7[p.Peer]
		if pc == nil {
			pc = &score.PeerCounters{}
			r.p7[p.Peer] = pc
		}
		pc.AddPenalty(p.Amount)
	}
}

func (r *router) rescore(tp *Topic) {
	for _, rep := range tp.AppendCounters(nil) {
		var pc score.PeerCounters
		if c := r.p7[rep.Peer]; c != nil {
			pc = *c
		}
		s := score.Score(&r.params, map[string]score.TopicCounters{tp.Name(): rep.Counters}, pc, 0)
		tp.SetScore(rep.Peer, s)
	}
}

// A mesh of 8 peers in which peer-000 forwards nothing while the others
// deliver one message per second. With the shipped waku parameters its
// score turns negative once P3 activates (10 s), it is pruned at the next
// heartbeat with a backoff, carries a P3b penalty, and is not re-grafted.
func TestScenarioSilentMeshPeerIsPruned(t *testing.T) {
	tp := newTopic(t, testConfig())
	withPeers(t, tp, 8)
	r := newRouter(tp.Name())
	fx := tp.Join(t0)
	if !tp.InMesh(pid(0)) {
		// Make sure the silent peer is in the mesh for the scenario.
		tp.grafted(t0, tp.peers[pid(0)])
	}
	_ = fx
	var prunedAt time.Duration
	for s := 1; s <= 20 && prunedAt == 0; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		// Every mesh peer except peer-000 delivers this second's message.
		id := MessageID(fmt.Sprintf("m-%d", s))
		first := true
		for _, mp := range tp.MeshPeers() {
			if mp == pid(0) {
				continue
			}
			tp.HandleMessage(now, mp, id, msg(10))
			if first {
				tp.HandleValidated(now, id, ValidationAccept)
				first = false
			}
		}
		r.rescore(tp)
		fx := tp.Heartbeat(now)
		r.apply(fx)
		for _, p := range fx.Prunes {
			if p.To == pid(0) {
				prunedAt = time.Duration(s) * time.Second
			} else {
				t.Fatalf("honest %s pruned at %d s", string(p.To), s)
			}
		}
	}
	if prunedAt == 0 || prunedAt > 12*time.Second {
		t.Fatalf("silent peer pruned at %v, want within the 10 s activation window + 2 heartbeats", prunedAt)
	}
	if c, _ := tp.Counters(pid(0)); c.MeshFailurePenalty == 0 {
		t.Error("no P3b charged on prune")
	}
	for s := 0; s < 30; s++ {
		now := t0.Add(prunedAt + time.Duration(s)*time.Second)
		r.rescore(tp)
		tp.Heartbeat(now)
		if tp.InMesh(pid(0)) {
			t.Fatalf("silent peer re-grafted %d s after prune", s)
		}
	}
}

// A peer that keeps GRAFTing during its backoff collects PRUNEs and P7
// penalties until its score is below the gossip threshold; it never enters
// the mesh.
func TestScenarioGraftDuringBackoffAttack(t *testing.T) {
	tp := newTopic(t, testConfig())
	withPeers(t, tp, 8)
	r := newRouter(tp.Name())
	tp.Join(t0)
	tp.grafted(t0, tp.peers[pid(7)])
	tp.HandlePrune(t0, pid(7), nil) // it left; we back off for a minute
	for s := 1; s <= 20; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		fx := tp.HandleGraft(now, pid(7))
		r.apply(fx)
		if tp.InMesh(pid(7)) {
			t.Fatalf("attacker in the mesh at %d s", s)
		}
		if len(fx.Prunes) != 1 {
			t.Fatalf("no PRUNE for the GRAFT at %d s", s)
		}
		r.rescore(tp)
		tp.Heartbeat(now)
	}
	// Each GRAFT comes 1 s after our previous PRUNE, inside the 10 s graft
	// flood threshold, so each costs the seed's 0.1 plus the flood's 1.
	if got := r.p7[pid(7)].BehaviourPenalty; math.Abs(got-22) > 1e-9 {
		t.Fatalf("P7 counter %v, want 20·(0.1+1) = 22", got)
	}
	if s := tp.peers[pid(7)].Score; s >= tp.cfg.Thresholds.Gossip {
		t.Fatalf("attacker score %v still above the gossip threshold", s)
	}
}
