package main

// The proof of issue 11 against go-libp2p-pubsub: real peers are the judge.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// goScores records what a go-libp2p-pubsub node's own peer scoring says of
// each peer: the latest snapshot and the largest behaviour penalty (P7: GRAFT
// in backoff, broken IWANT promises) ever seen.
type goScores struct {
	mu     sync.Mutex
	last   map[peer.ID]*pubsub.PeerScoreSnapshot
	maxP7  map[peer.ID]float64
	minSum map[peer.ID]float64
}

func (s *goScores) inspect(snap map[peer.ID]*pubsub.PeerScoreSnapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = snap
	for p, sc := range snap {
		s.maxP7[p] = max(s.maxP7[p], sc.BehaviourPenalty)
		if v, ok := s.minSum[p]; !ok || sc.Score < v {
			s.minSum[p] = sc.Score
		}
	}
}

func (s *goScores) of(p peer.ID) (last *pubsub.PeerScoreSnapshot, maxP7, minScore float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[p], s.maxP7[p], s.minSum[p]
}

// goScoring enables go's peer scoring as real Waku nodes ship it (nwaku's
// parameters, which go-waku copies: P1, P2, P4, P7; P3/P3b off), and records
// its scores every heartbeat. P7 has weight −10 and no threshold, so a single
// GRAFT in backoff or broken promise makes a score negative.
func goScoring(rec *goScores, topics ...string) []pubsub.Option {
	tp := &pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		TimeInMeshWeight:     0.01, TimeInMeshQuantum: time.Second, TimeInMeshCap: 10,
		FirstMessageDeliveriesWeight: 1, FirstMessageDeliveriesDecay: 0.5, FirstMessageDeliveriesCap: 10,
		InvalidMessageDeliveriesWeight: -100, InvalidMessageDeliveriesDecay: 0.5,
	}
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation:     true,
		Topics:                   map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:         func(peer.ID) float64 { return 0 },
		IPColocationFactorWeight: 0, // every node is on 127.0.0.1
		BehaviourPenaltyWeight:   -10,
		BehaviourPenaltyDecay:    0.986,
		DecayInterval:            time.Second,
		DecayToZero:              0.01,
		RetainScore:              10 * time.Minute,
	}
	for _, t := range topics {
		params.Topics[t] = tp
	}
	th := &pubsub.PeerScoreThresholds{GossipThreshold: -100, PublishThreshold: -1000, GraylistThreshold: -10000}
	return []pubsub.Option{pubsub.WithPeerScore(params, th), pubsub.WithPeerScoreInspect(rec.inspect, heartbeat)}
}

// TestInteropScoresAfterChurn: a mixed network of 3 peermesh and 3
// go-libp2p-pubsub nodes, all connected, goes through what issue 11 found
// to cost peermesh its score with real peers: Leave→Join cycles inside the
// unsubscribe backoff, publishing to a topic peermesh never joins (fanout,
// whose IHAVEs go answers with IWANT; flood publishing off on peermesh so
// the gossip matters), a quiet period, and a go node restarting with the
// same identity. At the end go's own scores of every peermesh node are
// ≥ 0 and no go node ever charged one a behaviour penalty (P7: a GRAFT in
// backoff or a broken IWANT promise), and the last messages reach every go
// node. (A go node restarts, not a peermesh one: no implementation keeps
// its backoffs across a restart, so a restarted node that had pruned a peer
// with a 60 s backoff may GRAFT it inside that backoff.)
func TestInteropScoresAfterChurn(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) {
			const topic, fanout = "churn", "fanout-only"
			cfg := router.DefaultConfig(p)
			cfg.Mesh.FloodPublish = false
			// A fanout of 2 of the 3 go subscribers of the fanout topic: the
			// third gets our IHAVEs and asks with IWANT.
			cfg.Mesh.D, cfg.Mesh.Dlo, cfg.Mesh.Dhi, cfg.Mesh.Dscore, cfg.Mesh.Dout = 2, 1, 3, 1, 0
			rng := rand.New(rand.NewPCG(11, 11))
			pms := make([]*pmNode, 3)
			for i := range pms {
				pms[i] = newPM(t, fmt.Sprint("pm", i), cfg)
				pms[i].join(t, topic, nil)
			}
			gos := make([]*goNode, 3)
			scores := make([]*goScores, 3)
			for i := range gos {
				scores[i] = &goScores{maxP7: map[peer.ID]float64{}, minSum: map[peer.ID]float64{}}
				gos[i] = newGo(t, fmt.Sprint("go", i), p, goParams(), goScoring(scores[i], topic, fanout)...)
				gos[i].subscribe(t, topic)
				gos[i].subscribe(t, fanout)
			}
			tickEvery(t, slices.Clone(pms), heartbeat)
			connectAll := func(pmList []*pmNode) {
				for i, a := range pmList {
					for _, b := range pmList[i+1:] {
						connect(t, a.host, b.host)
					}
					for _, g := range gos {
						connect(t, a.host, g.host)
					}
				}
				for i, a := range gos {
					for _, b := range gos[i+1:] {
						connect(t, a.host, b.host)
					}
				}
			}
			connectAll(pms)
			eventually(t, 20*time.Second, "every go node sees every peermesh node subscribed", func() error {
				for _, g := range gos {
					for _, pm := range pms {
						if !g.sees(topic, pm.host.ID()) {
							return fmt.Errorf("%s does not see %s", g, pm)
						}
					}
				}
				return nil
			})
			n := 0
			publishSome := func(k int) []string {
				var out []string
				for range k {
					n++
					d := fmt.Sprintf("churn %d", n)
					if i := rng.IntN(6); i < 3 {
						pms[i].publish(t, topic, []byte(d))
					} else {
						gos[i-3].publish(t, topic, []byte(d))
					}
					f := fmt.Sprintf("fanout %d", n)
					pms[rng.IntN(3)].publish(t, fanout, []byte(f))
					out = append(out, d, f)
					time.Sleep(50 * time.Millisecond) // pacing the load, not waiting for behaviour
				}
				return out
			}
			publishSome(20)

			// Leave→Join cycles, inside and outside the unsubscribe backoff
			// (waku 5 s, libp2p 10 s): go backs off from the node that left.
			for i, gap := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
				pm := pms[i%len(pms)]
				if l := pm.request(t, &pubsubv1.Leave{Topic: topic}).(*pubsubv1.Left); l.GetError() != "" {
					t.Fatalf("%s leave: %s", pm, l.GetError())
				}
				time.Sleep(gap) // the gap between Leave and Join is the scenario
				pm.join(t, topic, nil)
				publishSome(5)
			}

			// A quiet period: heartbeats only.
			time.Sleep(8 * time.Second)

			// go2 restarts with the same identity: peermesh keeps its score
			// and meets it again; the new go2 judges peermesh afresh.
			old, oldScores := gos[2], scores[2]
			t.Logf("go2 restarts at %.2fs", time.Since(gos[0].tr.start).Seconds())
			key := old.host.Peerstore().PrivKey(old.host.ID())
			old.stop()
			scores[2] = &goScores{maxP7: map[peer.ID]float64{}, minSum: map[peer.ID]float64{}}
			gos[2] = newGoOn(t, "go2'", p, goParams(), newHost(t, libp2p.Identity(key)), goScoring(scores[2], topic, fanout)...)
			gos[2].subscribe(t, topic)
			gos[2].subscribe(t, fanout)
			for _, pm := range pms {
				connect(t, gos[2].host, pm.host)
			}
			for _, g := range gos[:2] {
				connect(t, gos[2].host, g.host)
			}
			time.Sleep(2 * time.Second) // the restarted node meets its peers
			last := publishSome(20)
			eventually(t, 30*time.Second, "the last messages at every go node", func() error {
				for _, g := range gos {
					if first, miss := g.in.missing(last); miss > 0 {
						return errMissing(g, first, miss, len(last))
					}
				}
				return nil
			})
			time.Sleep(4 * time.Second) // past go's IWANT follow-up time (3 s): broken promises are charged

			for _, pm := range pms {
				if _, maxP7, _ := oldScores.of(pm.host.ID()); maxP7 > 0 {
					t.Errorf("go2 before its restart charged %s a behaviour penalty of %.2f: %s", pm, maxP7, old.tr.summary(pm.host.ID()))
				}
			}
			for gi, g := range gos {
				for _, pm := range pms {
					snap, maxP7, minScore := scores[gi].of(pm.host.ID())
					if snap == nil {
						t.Errorf("%s has no score of %s", g, pm)
						continue
					}
					// What go-libp2p-pubsub says about us, also when it is fine.
					said := fmt.Sprintf("%s scores %s %.3f (lowest seen %.3f), largest behaviour penalty %.2f: %s",
						g, pm, snap.Score, minScore, maxP7, g.tr.summary(pm.host.ID()))
					t.Log(said)
					if snap.Score < 0 || maxP7 > 0 {
						t.Error(said)
						g.tr.mu.Lock()
						rejects := fmt.Sprint(g.tr.rejects)
						g.tr.mu.Unlock()
						t.Logf("%s rejected %s; its control with %s:\n%s", g, rejects, pm, strings.Join(g.tr.eventsOf(pm.host.ID()), "\n"))
					}
				}
			}
		})
	}
}
