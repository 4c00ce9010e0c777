package router_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/interop"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestInteropJSScoresAfterChurn: the proof of issue 11 against js-libp2p
// gossipsub (ChainSafe 14, the implementation js-waku runs). Two js peers and
// three peermesh nodes, all connected, go through Leave→Join cycles inside
// the unsubscribe backoff, publishing to a topic peermesh never joins
// (fanout of one: the other js peer gets our IHAVEs and asks with IWANT), a
// quiet period and a js peer restarting with the same identity. js's
// own score of every peermesh node stays ≥ 0 (its P7 decays by 0.986 per
// second here, as nwaku's, so a GRAFT in backoff or a broken promise during
// the run would still show), and the last messages reach both js peers.
func TestInteropJSScoresAfterChurn(t *testing.T) {
	for _, p := range []wire.Profile{wire.ProfileWaku, wire.ProfileLibp2p} {
		t.Run(p.String(), func(t *testing.T) {
			const topic, fanout = "churn", "fanout-only"
			no := false
			jsCfg := interop.Config{Profile: p.String(), Topics: []string{topic, fanout}, HeartbeatMs: 200, FloodPublish: &no,
				Gossipsub: map[string]any{"scoreParams": map[string]any{"behaviourPenaltyDecay": 0.986, "IPColocationFactorWeight": 0}}}
			seeded := func(i int) interop.Config {
				c := jsCfg
				c.KeySeedHex = fmt.Sprintf("%064x", 1000+i)
				return c
			}
			js := []*interop.Peer{interop.Start(t, seeded(0)), interop.Start(t, seeded(1))}
			cfg := router.DefaultConfig(p)
			cfg.Mesh.FloodPublish = false
			cfg.Mesh.D, cfg.Mesh.Dlo, cfg.Mesh.Dhi, cfg.Mesh.Dscore, cfg.Mesh.Dout = 1, 1, 2, 1, 0
			nodes := []*node{newNode(t, cfg), newNode(t, cfg), newNode(t, cfg)}
			for _, n := range nodes {
				n.join(t, topic, nil)
			}
			stop := tickEvery(nodes, 200*time.Millisecond)
			link := func(n *node) {
				for _, other := range nodes {
					if other != n && n.host.Network().Connectedness(other.host.ID()) != network.Connected {
						connect(t, n, other)
					}
				}
				for _, j := range js {
					connectJS(t, n, j)
				}
			}
			for _, n := range nodes {
				link(n)
			}
			eventually(t, 20*time.Second, "js sees every peermesh node subscribed", func() error {
				for _, j := range js {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					e, err := j.Request(ctx, interop.Command{Cmd: "peers", Topic: topic})
					cancel()
					if err != nil {
						return err
					}
					for _, n := range nodes {
						if !containsString(e.Subscribers, n.host.ID().String()) {
							return fmt.Errorf("js %s does not see %s subscribed", j.ID.ShortString(), n)
						}
					}
				}
				return nil
			})
			rng := rand.New(rand.NewPCG(12, 12))
			k := 0
			// publishSome publishes count messages on each topic; withJS lets
			// the js peers publish some of them too (js does not deliver its own
			// messages to itself, so the last batch is peermesh's only).
			publishSome := func(count int, withJS bool) []string {
				var out []string
				for range count {
					k++
					d, f := fmt.Sprintf("churn %d", k), fmt.Sprintf("fanout %d", k)
					if i := rng.IntN(4); i < 3 || !withJS {
						i %= 3
						nodes[i].request(t, &pubsubv1.Publish{Topic: topic, Data: []byte(d)})
					} else {
						jsPublish(t, js[rng.IntN(2)], topic, []byte(d))
					}
					nodes[rng.IntN(3)].request(t, &pubsubv1.Publish{Topic: fanout, Data: []byte(f)})
					out = append(out, d, f)
					time.Sleep(50 * time.Millisecond) // pacing the load, not waiting for behaviour
				}
				return out
			}
			checkScores := func(when string) {
				t.Helper()
				for _, j := range js {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					sc, err := j.Scores(ctx)
					cancel()
					if err != nil {
						t.Fatalf("js scores: %v", err)
					}
					for _, n := range nodes {
						s, ok := sc[n.host.ID().String()]
						t.Logf("%s: js %s scores %s %.3f (known %v)", when, j.ID.ShortString(), n, s, ok) // what js-libp2p says about us (0 with no topic score params, as js-waku runs it: only P5–P7 apply)
						if !ok || s < 0 {
							var evs []string
							for _, e := range j.Events() {
								if (e.Event == "graft" || e.Event == "prune" || e.Event == "peer-connect" || e.Event == "peer-disconnect") && e.Peer == n.host.ID().String() {
									evs = append(evs, e.Event+" "+e.Topic+" "+e.Direction)
								}
							}
							t.Errorf("%s: js %s scores %s %v (known %v); its grafts and prunes with it: %v", when, j.ID.ShortString(), n, s, ok, evs)
						}
					}
				}
			}
			publishSome(15, true)
			checkScores("after publishing")
			for i, gap := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
				n := nodes[i%len(nodes)]
				if l := n.request(t, &pubsubv1.Leave{Topic: topic}).(*pubsubv1.Left); l.GetError() != "" {
					t.Fatalf("%s leave: %s", n, l.GetError())
				}
				time.Sleep(gap) // the gap between Leave and Join is the scenario
				n.join(t, topic, nil)
				publishSome(5, true)
			}
			checkScores("after the Leave/Join cycles")
			time.Sleep(6 * time.Second) // a quiet period: heartbeats only
			// js1 restarts with the same identity: peermesh keeps its score
			// and meets it again; the new js1 judges peermesh afresh. (A js
			// node restarts, not a peermesh one: no implementation keeps its
			// backoffs across a restart, so a restarted node that had pruned
			// a peer with a 60 s backoff may GRAFT it inside that backoff.)
			checkScores("before js1 restarts")
			js[1].Stop()
			js[1] = interop.Start(t, seeded(1))
			defer stop()
			for _, n := range nodes {
				connectJS(t, n, js[1])
			}
			time.Sleep(2 * time.Second) // the restarted node meets its peers
			last := publishSome(15, false)
			for _, j := range js {
				for _, d := range last {
					jsReceived(t, j, []byte(d))
				}
			}
			time.Sleep(4 * time.Second) // past js's IWANT follow-up time (3 s): broken promises are charged
			checkScores("at the end")
		})
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
