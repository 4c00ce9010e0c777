package router_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/bubble"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// modelSeeds is how many seeds TestModelSeams runs: a few hundred by
// default (CI), thousands when asked for:
//
//	go test -run TestModelSeams -model.seeds=5000 ./actors/router/
//
// A failing seed is printed with the steps that led to it; run it alone
// with -model.seed=N, and keep it as a row of modelRegressions.
var (
	modelSeeds = flag.Int("model.seeds", 200, "seeds of TestModelSeams")
	modelSeed  = flag.Uint64("model.seed", 0, "run TestModelSeams for this one seed")
)

// modelRegressions are seeds that once failed (none yet); they run first.
var modelRegressions = []uint64{}

// modelSteps is the length of one seeded run.
const modelSteps = 60

// TestModelSeams is the randomised model test of ADR 0012: four routers
// (with their sessions and topic actors) on a mocknet in a synctest bubble,
// driven through random interleavings of connect, disconnect, reconnect,
// Join, Leave, publish (joined or fanout), heartbeats and quiet periods,
// with GRAFT, PRUNE, IHAVE, IWANT and IDONTWANT flowing as they will.
// After every step (once every actor is idle) it checks:
//
//   - a mesh peer is connected and subscribed;
//   - a topic actor knows exactly the connected peers subscribed to it: no
//     topic knows a peer the router has forgotten (no ghosts), none misses one;
//   - backoffs are honoured: no router ever counted a GRAFT in backoff;
//   - every IHAVE can be answered: no router ever charged a broken promise;
//   - a score survives a reconnect inside RetainScore;
//   - no honest peer's score is negative, and each router has exactly one
//     session per connected peer.
func TestModelSeams(t *testing.T) {
	seeds := slices.Clone(modelRegressions)
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	} else {
		n := *modelSeeds
		if testing.Short() {
			n = min(n, 20)
		}
		for s := range uint64(n) {
			seeds = append(seeds, 1000+s)
		}
	}
	for _, seed := range seeds {
		var log []string
		ok := t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) { log = runModel(t, seed) })
		})
		if !ok {
			t.Fatalf("seed %d failed after:\n%s", seed, strings.Join(log, "\n"))
		}
	}
}

const modelNodes = 4

var modelTopics = []string{"a", "b"}

type model struct {
	t      *testing.T
	s      *simNet
	rng    *rand.Rand
	joined [modelNodes]map[string]bool
	// penalised[i][j]: i charged j a P7 on purpose (its score may be negative).
	penalised [modelNodes][modelNodes]bool
	published int
	log       []string
}

func runModel(t *testing.T, seed uint64) []string {
	s := newSimNet(t, modelNodes, func(int) router.Config {
		cfg := router.DefaultConfig(wire.ProfileWaku)
		// Long enough for a Leave→Join inside it to be likely.
		cfg.Mesh.UnsubscribeBackoff = 30 * time.Second
		return cfg
	})
	m := &model{t: t, s: s, rng: rand.New(rand.NewPCG(seed, seed))}
	for i := range m.joined {
		m.joined[i] = map[string]bool{}
	}
	for step := range modelSteps {
		m.step(step)
		m.check(step)
		if t.Failed() {
			break
		}
	}
	return m.log
}

func (m *model) connected(i, j int) bool {
	return m.s.hosts[i].Network().Connectedness(m.s.id(j)) == network.Connected
}

func (m *model) step(k int) {
	t, s := m.t, m.s
	i, j := m.rng.IntN(modelNodes), m.rng.IntN(modelNodes)
	topic := modelTopics[m.rng.IntN(len(modelTopics))]
	var what string
	switch op := m.rng.IntN(100); {
	case op < 18 && i != j && !m.connected(i, j):
		what = fmt.Sprintf("connect %d %d", i, j)
		s.connect(t, i, j)
	case op < 26 && i != j && m.connected(i, j):
		what = fmt.Sprintf("disconnect %d %d", i, j)
		s.disconnect(t, i, j)
	case op < 32 && i != j && m.connected(i, j):
		what = fmt.Sprintf("reconnect %d %d", i, j)
		m.reconnect(i, j)
	case op < 44 && !m.joined[i][topic]:
		what = fmt.Sprintf("join %d %s", i, topic)
		s.join(t, i, topic, nil)
		m.joined[i][topic] = true
	case op < 52 && m.joined[i][topic]:
		what = fmt.Sprintf("leave %d %s", i, topic)
		s.leave(t, i, topic)
		m.joined[i][topic] = false
	case op < 72:
		m.published++
		what = fmt.Sprintf("publish %d %s (joined %v)", i, topic, m.joined[i][topic])
		p := s.request(t, i, &pubsubv1.Publish{Topic: topic, Data: fmt.Appendf(nil, "msg %d", m.published)}).(*pubsubv1.Published)
		if p.GetError() != "" {
			t.Errorf("publish %d %s: %s", i, topic, p.GetError())
		}
	case op < 76 && i != j && m.connected(i, j):
		what = fmt.Sprintf("penalise %d %d", i, j)
		s.probe.Send(s.router[i], &pubsubv1.PeerBehaviourPenalty{Peer: []byte(s.id(j)), Penalty: 1, Reason: "model"})
		m.penalised[i][j] = true
	case op < 80:
		what = "quiet 30 s"
		for range 30 {
			s.tick(time.Second)
		}
	default:
		what = "tick"
		s.tick(time.Second)
	}
	m.log = append(m.log, fmt.Sprintf("%3d %s", k, what))
}

// reconnect drops and restores the connection of i and j without a
// heartbeat in between: each side's score of the other (here its P7
// component, which only heartbeats decay) must survive (RetainScore).
func (m *model) reconnect(i, j int) {
	t, s := m.t, m.s
	before := [2]float64{m.behaviour(i, j), m.behaviour(j, i)}
	s.disconnect(t, i, j)
	s.connect(t, i, j)
	if after := [2]float64{m.behaviour(i, j), m.behaviour(j, i)}; after != before {
		t.Errorf("reconnect %d %d: P7 of each other %v before, %v after (RetainScore)", i, j, before, after)
	}
}

func (m *model) behaviour(i, j int) float64 {
	ps, _ := m.s.score(m.t, i, j)
	return ps.GetBehaviour()
}

func (m *model) check(k int) {
	t, s := m.t, m.s
	for i := range modelNodes {
		if n := gauge(t, s.regs[i], "libp2p_pubsub_peers"); int(n) != m.connectedCount(i) {
			t.Errorf("step %d: router %d has %v sessions, %d connected peers", k, i, n, m.connectedCount(i))
		}
		for _, topic := range modelTopics {
			mesh := s.mesh(t, i, topic)
			if mesh.GetError() != "" {
				if m.joined[i][topic] {
					t.Errorf("step %d: router %d joined %s but its actor answers %q", k, i, topic, mesh.GetError())
				}
				continue
			}
			var want []peer.ID
			for j := range modelNodes {
				if j != i && m.connected(i, j) && m.joined[j][topic] {
					want = append(want, s.id(j))
				}
			}
			slices.Sort(want)
			got := ids(mesh.GetPeers())
			if !slices.Equal(got, want) {
				t.Errorf("step %d: router %d topic %s knows peers %v, want the connected subscribers %v", k, i, topic, m.names(got), m.names(want))
			}
			for _, p := range ids(mesh.GetMesh()) {
				if !slices.Contains(want, p) {
					t.Errorf("step %d: router %d topic %s has %s in its mesh: not a connected subscriber", k, i, topic, m.name(p))
				}
			}
		}
		for _, reason := range []string{"graft_backoff", "graft_flood", "broken_promise"} {
			if n := s.counter(t, i, "libp2p_gossipsub_behaviour_penalties_total", "reason", reason); n != 0 {
				t.Errorf("step %d: router %d charged %v penalties for %s", k, i, n, reason)
			}
		}
		for j := range modelNodes {
			if j == i || m.penalised[i][j] {
				continue
			}
			if ps, ok := s.score(t, i, j); ok && ps.GetScore() < 0 {
				t.Errorf("step %d: router %d scores honest %d at %v: %v", k, i, j, ps.GetScore(), ps)
			}
		}
	}
}

func (m *model) connectedCount(i int) int {
	n := 0
	for j := range modelNodes {
		if j != i && m.connected(i, j) {
			n++
		}
	}
	return n
}

func ids(b [][]byte) []peer.ID {
	out := make([]peer.ID, len(b))
	for i, x := range b {
		out[i] = peer.ID(x)
	}
	slices.Sort(out)
	return out
}

func (m *model) name(p peer.ID) string {
	for j := range modelNodes {
		if m.s.id(j) == p {
			return fmt.Sprint(j)
		}
	}
	return p.ShortString()
}

func (m *model) names(ps []peer.ID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = m.name(p)
	}
	return out
}
