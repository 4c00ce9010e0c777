package sim_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/actors/peermanager"
	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// soakFull runs the churn soak at full length (2 virtual hours); the
// default is the short version CI runs.
var soakFull = flag.Bool("soak.full", false, "run the churn soak for 2 virtual hours (default: the short version)")

// soakDebug logs, at the first broken invariants, the node's books, its
// remotes' state and its peer manager's debug log.
var soakDebug = flag.Bool("soak.debug", false, "log the books and peer-manager log of nodes that break an invariant")

// soakPlan is one churn soak: sizes, times and events.
type soakPlan struct {
	regular, late, pxOnly     int           // node counts by role
	length                    time.Duration // protocol time
	pxStart, lateStart        time.Duration // when the PX-only and the late static nodes start
	restarts                  int           // kill/restart events
	restartFrom, restartUntil time.Duration // restarts happen in this window, outside the partition and the flood
	downMin, downMax          time.Duration
	partitionAt               time.Duration
	partitionFor              time.Duration
	partitioned               int // nodes cut from the rest
	floodAt, floodFor         time.Duration
	floodPeers                int // fresh inbound ids of the flood
	floodDials                int // live nodes each of them connects to
	capacity                  int // every node's PeerStoreCapacity
	discovered                int // peers each node learns from "discovery" at start
}

// shortPlan is the version CI runs (under a minute with -race on two
// cores; 55 s at load 2.5): 17 nodes and every kind of event, in 6 minutes
// of protocol time. Its restarts come late and seldom heal before the end (a
// restarted node waits out the prune backoff, then the dial backoff of peers
// it failed to reach); the full version measures restarts.
func shortPlan() soakPlan {
	return soakPlan{regular: 10, late: 3, pxOnly: 4, length: 6 * time.Minute, pxStart: time.Minute, lateStart: 90 * time.Second,
		restarts: 2, restartFrom: 90 * time.Second, restartUntil: 5 * time.Minute, downMin: 20 * time.Second, downMax: time.Minute,
		partitionAt: 2*time.Minute + 30*time.Second, partitionFor: time.Minute, partitioned: 4,
		floodAt: 4 * time.Minute, floodFor: 30 * time.Second, floodPeers: 15, floodDials: 12, capacity: soakMaxConnections,
		discovered: 10}
}

func fullPlan() soakPlan {
	return soakPlan{regular: 45, late: 5, pxOnly: 10, length: 2 * time.Hour, pxStart: 2 * time.Minute, lateStart: 5 * time.Minute,
		restarts: 30, restartFrom: 8 * time.Minute, restartUntil: 110 * time.Minute, downMin: 20 * time.Second, downMax: 5 * time.Minute,
		partitionAt: 40 * time.Minute, partitionFor: 10 * time.Minute, partitioned: 15,
		floodAt: 70 * time.Minute, floodFor: 10 * time.Minute, floodPeers: 150, floodDials: 10, capacity: 100,
		discovered: 15}
}

// Node settings of the soak: 30 connections give 24 relay peers, 10 out
// and 14 in, so inbound room exceeds outbound demand.
const (
	soakMaxConnections = 30
	soakRound          = 15 * time.Second // the peer manager's connectivity interval
)

// soakKey is node i's identity, from the seed: a secp256k1 key (as waku
// nodes use) made from 32 seeded bytes. Not crypto.GenerateSecp256k1Key,
// which ignores the reader it is given and draws a fresh key: with it a
// "restarted" node came back under a new id (found by TestLongSoak, whose
// peer stores grew by one id per restart).
func soakKey(seed uint64) func(int) crypto.PrivKey {
	return func(i int) crypto.PrivKey {
		r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(i), byte(i >> 8), 0x50, 0xa1})
		var b [32]byte
		_, _ = r.Read(b[:])
		k, err := crypto.UnmarshalSecp256k1PrivateKey(b[:])
		if err != nil {
			panic(err)
		}
		return k
	}
}

// soakNode is one node of the soak and what the soak knows about it.
type soakNode struct {
	i      int
	id     peer.ID
	addr   string // full multiaddr with /p2p/
	role   string
	static []int // its static nodes
	store  storage.Backend
	node   *peermesh.Node
	pm     *actor.PID
	reg    *prometheus.Registry
	up     bool
	logs   *ring
	// dials counts the dials the node's pool ended in earlier incarnations
	// (a restarted node's registry starts at zero).
	dials float64
}

// heal is one event a node must recover from: it has to reach its outbound
// target (or connect its static node) after since.
type heal struct {
	event string
	node  int
	since time.Time
	// dials is the node's dial count at since.
	dials float64
	// target, when ≥ 0, is the static node that must be connected instead
	// of the outbound target being met.
	target int
	done   bool
	took   time.Duration
	spent  float64
	// store is the node's largest peer store until it healed.
	store int
}

type soak struct {
	t     *testing.T
	plan  soakPlan
	rng   *rand.Rand
	nw    *sim.Network
	sys   *actor.ActorSystem
	nodes []*soakNode
	start time.Time
	// cut says whether a link is partitioned now.
	cut   func(from, to int) bool
	heals []*heal
	// violations are broken invariants, reported at the end.
	violations []string
	// Figures for the table.
	maxStore    int
	floodStore  int // the largest store during the inbound flood
	maxInFlight float64
	behind      map[int]time.Time // since when an eligible node is below target
	healStats   map[string][]*heal
	// noKill are the nodes the restarts spare: the PX bootstraps, whose
	// scenario is the PX-only nodes'.
	noKill map[int]bool
}

func (s *soak) now() time.Duration { return time.Since(s.start) }

func (s *soak) violate(format string, args ...any) {
	msg := fmt.Sprintf("%7s ", s.now().Round(time.Second)) + fmt.Sprintf(format, args...)
	if len(s.violations) < 200 {
		s.violations = append(s.violations, msg)
	}
}

// request asks node n's peer manager and returns the answer of type T.
func request[T any](s *soak, n *soakNode, msg any) (T, bool) {
	var zero T
	res, err := s.sys.Root.RequestFuture(n.pm, msg, 10*time.Second).Result()
	if err != nil {
		return zero, false
	}
	v, ok := res.(T)
	return v, ok
}

func (s *soak) config(n *soakNode) peermesh.Config {
	cfg := peermesh.DefaultConfig()
	cfg.Name = fmt.Sprintf("n%d", n.i)
	cfg.MaxConnections = soakMaxConnections
	cfg.PeerStoreCapacity = s.plan.capacity
	cfg.RelayPeerExchange = true
	cfg.PeerPersistence = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	if *soakDebug {
		if n.logs == nil {
			n.logs = &ring{}
		}
		cfg.Logger = slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.Registerer = n.reg
	for _, j := range n.static {
		cfg.StaticNodes = append(cfg.StaticNodes, s.nodes[j].addr)
	}
	return cfg
}

// boot starts node n on host index n.i (a fresh host when restarting).
func (s *soak) boot(n *soakNode, restart bool) {
	s.t.Helper()
	h := s.nw.Hosts[n.i]
	if restart {
		var err error
		if h, err = s.nw.Restart(n.i); err != nil {
			s.t.Fatal(err)
		}
	}
	n.reg = prometheus.NewRegistry()
	node, err := peermesh.NewWithHost(s.config(n), h, n.store)
	if err != nil {
		s.t.Fatalf("node %d: %v", n.i, err)
	}
	pid, err := node.Spawn(s.sys.Root)
	if err != nil {
		s.t.Fatalf("node %d: %v", n.i, err)
	}
	n.node, n.up = node, true
	n.pm = actor.NewPID(pid.GetAddress(), pid.GetId()+"/peermanager")
	synctest.Wait() // the node actor has spawned its children
}

// kill stops node n as a crash would: its host goes first (no goodbye to
// its peers), then the actors; the store is kept.
func (s *soak) kill(n *soakNode) {
	n.dials += s.dialsNow(n)
	_ = s.nw.Hosts[n.i].Close()
	_ = n.node.Close(context.Background())
	n.up = false
}

// discover tells n's peer manager of k random other regular nodes, as
// discv5 would (relay protocol known from the ENR).
func (s *soak) discover(n *soakNode, k int) {
	var cands []int
	for j := range s.plan.regular {
		if j != n.i {
			cands = append(cands, j)
		}
	}
	s.rng.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
	for _, j := range cands[:min(k, len(cands))] {
		m := s.nodes[j]
		info := &pmv1.PeerInfo{PeerId: []byte(m.id), Protocols: []string{peermanager.WakuRelayCodec}}
		for _, a := range s.nw.Hosts[j].Addrs() {
			info.Addresses = append(info.Addresses, a.Bytes())
		}
		if len(info.Addresses) == 0 {
			info.Addresses = append(info.Addresses, hostAddrBytes(s.nw, j))
		}
		if a, ok := request[*pmv1.PeerAdded](s, n, &pmv1.AddPeer{Peer: info, Origin: peerv1.Origin_ORIGIN_DISCV5}); !ok || a.GetError() != "" {
			s.t.Fatalf("node %d: discover %d: %v", n.i, j, a)
		}
	}
}

func hostAddrBytes(nw *sim.Network, j int) []byte { return nw.Info(j).Addrs[0].Bytes() }

// dialsNow is the dials n's pool has ended in this incarnation.
func (s *soak) dialsNow(n *soakNode) float64 { return metricSum(n.reg, "waku_peers_dials") }

func metricSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func (s *soak) reachable(i, j int) bool {
	return s.nodes[j].up && (s.cut == nil || !s.cut(i, j))
}

// TestChurnSoak is issue 10's proof that the peer manager heals: 60 nodes
// (45 regular, 5 static nodes that come up late, 10 that know only a PX
// bootstrap) with the real peer manager, dial pool, storage and router on a
// simulated network, seeded, through node kills and restarts on their
// stores, a partition that heals and an inbound flood of short-lived ids.
// Continuously: no store beyond its capacity, the dial cap holds, every
// live node below its outbound target with enough reachable candidates
// reaches it within two connectivity rounds, every node with a static node
// reconnects within the static backoff cap of it coming up. It logs the
// table of docs/RELIABILITY.md (go test -v).
func TestChurnSoak(t *testing.T) {
	plan := shortPlan()
	if *soakFull {
		plan = fullPlan()
	}
	bubble.Test(t, func(t *testing.T) { runSoak(t, plan, 1) })
}

// event is something the soak does at a protocol time.
type event struct {
	at time.Duration
	do func()
}

func runSoak(t *testing.T, plan soakPlan, seed uint64) {
	total := plan.regular + plan.late + plan.pxOnly
	const floodSlots = 8
	nw, err := sim.New(t, sim.Config{Nodes: total + floodSlots, Seed: seed, Key: soakKey(seed)})
	if err != nil {
		t.Fatal(err)
	}
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	})))
	t.Cleanup(sys.Shutdown)
	s := &soak{t: t, plan: plan, rng: rand.New(rand.NewPCG(seed, 0x50a4)), nw: nw, sys: sys, start: time.Now(),
		behind: map[int]time.Time{}, healStats: map[string][]*heal{}, noKill: map[int]bool{}}
	for i := range total {
		n := &soakNode{i: i, id: nw.Hosts[i].ID(), role: "regular", store: storage.NewMemory(storage.DefaultConfig())}
		n.addr = nw.Info(i).Addrs[0].String() + "/p2p/" + n.id.String()
		switch {
		case i >= plan.regular+plan.late:
			n.role = "px-only" // its bootstrap is chosen when it starts
		case i >= plan.regular:
			n.role = "late-static"
		}
		s.nodes = append(s.nodes, n)
	}
	for k := range plan.late { // regular node k keeps late node regular+k as its static node
		s.nodes[k].static = []int{plan.regular + k}
	}
	t.Cleanup(func() {
		for _, n := range s.nodes {
			if n.up {
				_ = n.node.Close(context.Background())
			}
		}
	})
	for _, n := range s.nodes[:plan.regular] {
		s.boot(n, false)
	}
	for _, n := range s.nodes[:plan.regular] {
		s.discover(n, plan.discovered)
	}
	for _, e := range s.schedule(floodSlots) {
		for s.now() < e.at {
			sim.Advance(5 * time.Second)
			if s.now()%soakRound < 5*time.Second {
				s.sample()
			}
		}
		e.do()
	}
	for s.now() < plan.length {
		sim.Advance(5 * time.Second)
		if s.now()%soakRound < 5*time.Second {
			s.sample()
		}
	}
	s.report()
}

// schedule lays out the plan's events in time order, from the seed.
func (s *soak) schedule(floodSlots int) []event {
	p, total := s.plan, len(s.nodes)
	var evs []event
	evs = append(evs, event{p.pxStart, func() {
		// A PX-capable bootstrap: a node whose mesh is full (Dhi), so it
		// answers a GRAFT with PRUNE and peer exchange.
		boots := s.fullMeshes()
		for k, n := range s.nodes[p.regular+p.late:] {
			n.static = []int{boots[k%len(boots)]}
			s.noKill[n.static[0]] = true
			s.boot(n, false)
			s.track("px-only join", n.i, -1)
		}
	}})
	evs = append(evs, event{p.lateStart, func() {
		for _, n := range s.nodes[p.regular : p.regular+p.late] {
			s.boot(n, false)
			s.discover(n, p.discovered)
		}
		for k := range p.late {
			s.track("late static node up", k, p.regular+k)
		}
	}})
	// Kills and restarts: at random times outside the partition and the
	// flood, a random regular node that is up and not a static or PX
	// bootstrap of another (those have events of their own).
	for range p.restarts {
		var at time.Duration
		for {
			at = p.restartFrom + time.Duration(s.rng.Int64N(int64(p.restartUntil-p.restartFrom)))
			if (at < p.partitionAt-p.downMax || at > p.partitionAt+p.partitionFor) && (at < p.floodAt-p.downMax || at > p.floodAt+p.floodFor) {
				break
			}
		}
		down := p.downMin + time.Duration(s.rng.Int64N(int64(p.downMax-p.downMin)))
		at = at.Round(5 * time.Second)
		var victim *soakNode
		evs = append(evs, event{at, func() {
			for range 100 {
				n := s.nodes[p.late+s.rng.IntN(p.regular-p.late)]
				if n.up && !s.noKill[n.i] {
					victim = n
					break
				}
			}
			if victim != nil {
				s.kill(victim)
			}
		}})
		evs = append(evs, event{(at + down).Round(5 * time.Second), func() {
			if victim != nil && !victim.up {
				s.boot(victim, true)
				s.track("restart (store kept)", victim.i, -1)
			}
		}})
	}
	// The partition: a random set of regular nodes cut from the rest.
	cutSet := map[int]bool{}
	for _, j := range s.rng.Perm(p.regular)[:p.partitioned] {
		cutSet[j] = true
	}
	evs = append(evs, event{p.partitionAt, func() {
		s.cut = func(from, to int) bool { return from < total && to < total && cutSet[from] != cutSet[to] }
		s.nw.Partition(s.cut)
	}})
	evs = append(evs, event{p.partitionAt + p.partitionFor, func() {
		s.cut = nil
		s.nw.Partition(nil)
		for j := range cutSet {
			if s.nodes[j].up {
				s.track("partition healed", j, -1)
			}
		}
	}})
	// The flood: short-lived fresh ids at floodSlots extra IPs, each dialing
	// floodDials random live nodes and leaving when its slot is reused.
	every := p.floodFor / time.Duration(max(1, p.floodPeers))
	for k := range p.floodPeers {
		at := (p.floodAt + time.Duration(k)*every).Round(5 * time.Second)
		slot := total + k%floodSlots
		evs = append(evs, event{at, func() {
			_ = s.nw.Hosts[slot].Close()
			key, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8([32]byte{0xf1, byte(k), byte(k >> 8)}))
			if err != nil {
				s.t.Fatal(err)
			}
			h, err := s.nw.Replace(slot, key)
			if err != nil {
				s.t.Fatal(err)
			}
			for _, j := range s.rng.Perm(p.regular)[:min(p.floodDials, p.regular)] {
				if s.nodes[j].up && s.reachable(slot, j) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = h.Connect(ctx, s.nw.Info(j))
					cancel()
				}
			}
		}})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs
}

// fullMeshes returns the regular nodes whose topic mesh is at Dhi (8),
// largest first; at least the three largest meshes.
func (s *soak) fullMeshes() []int {
	type size struct{ i, n int }
	var sizes []size
	for _, n := range s.nodes[:s.plan.regular] {
		if !n.up {
			continue
		}
		ms, err := n.node.Mesh(context.Background())
		if err != nil || len(ms) == 0 {
			continue
		}
		sizes = append(sizes, size{n.i, len(ms[0].GetPeerIds())})
	}
	slices.SortStableFunc(sizes, func(a, b size) int { return b.n - a.n })
	var out []int
	for k, sz := range sizes {
		if sz.n >= 8 || k < 3 {
			out = append(out, sz.i)
		}
	}
	return out
}

// track starts a heal to measure: node must reach its outbound target (or,
// with target ≥ 0, be connected to node target).
func (s *soak) track(event string, node, target int) {
	n := s.nodes[node]
	h := &heal{event: event, node: node, since: time.Now(), target: target}
	if n.up {
		h.dials = s.dialsNow(n)
	}
	s.heals = append(s.heals, h)
	s.healStats[event] = append(s.healStats[event], h)
}

// sample reads every live node after a round and checks the invariants.
func (s *soak) sample() {
	now := time.Now()
	status := map[int]*pmv1.Status{}
	for _, n := range s.nodes {
		if !n.up {
			continue
		}
		st, ok := request[*pmv1.Status](s, n, &pmv1.GetStatus{})
		if !ok {
			s.violate("node %d does not answer GetStatus", n.i)
			continue
		}
		status[n.i] = st
		if int(st.GetPeerStoreSize()) > s.plan.capacity {
			s.violate("node %d holds %d peers, capacity %d", n.i, st.GetPeerStoreSize(), s.plan.capacity)
		}
		s.maxStore = max(s.maxStore, int(st.GetPeerStoreSize()))
		if p := s.plan; s.now() >= p.floodAt && s.now() <= p.floodAt+p.floodFor+soakRound {
			s.floodStore = max(s.floodStore, int(st.GetPeerStoreSize()))
		}
		inFlight := metricSum(n.reg, "peermesh_dialer_in_flight")
		if inFlight > 10 {
			s.violate("node %d has %v dials in flight, cap 10", n.i, inFlight)
		}
		s.maxInFlight = max(s.maxInFlight, inFlight)
	}
	for _, h := range s.heals {
		n := s.nodes[h.node]
		if h.done || !n.up {
			continue
		}
		st := status[h.node]
		h.store = max(h.store, int(st.GetPeerStoreSize()))
		ok := st != nil && st.GetOutRelayPeers() >= st.GetOutRelayTarget()
		if h.target >= 0 {
			ok = s.nw.Hosts[h.node].Network().Connectedness(s.nodes[h.target].id) == network.Connected
			// A static node must be back within the static backoff cap, a
			// round and the sampling step of coming up.
			if !ok && now.Sub(h.since) > 2*time.Minute+2*soakRound {
				s.violate("node %d not connected to its static node %d %s after it came up", h.node, h.target, now.Sub(h.since).Round(time.Second))
				h.done = true // reported once
			}
		}
		if ok {
			h.done, h.took, h.spent = true, now.Sub(h.since), s.dialsNow(n)-h.dials
		}
	}
	for _, n := range s.nodes {
		st := status[n.i]
		if st == nil {
			delete(s.behind, n.i)
			continue
		}
		gap := int(st.GetOutRelayTarget()) - int(st.GetOutRelayPeers())
		if gap <= 0 || s.eligible(n, status, now) < gap {
			delete(s.behind, n.i)
			continue
		}
		since, ok := s.behind[n.i]
		if !ok {
			s.behind[n.i] = now
			continue
		}
		// Two rounds, plus one sampling step: enough candidates were
		// reachable at since, so the target is due two rounds later.
		if now.Sub(since) > 2*soakRound+soakRound {
			s.violate("node %d at %d/%d outbound for %s with enough reachable candidates", n.i, st.GetOutRelayPeers(),
				st.GetOutRelayTarget(), now.Sub(since).Round(time.Second))
			if *soakDebug && len(s.violations) < 3 {
				s.dump(n, status, now)
			}
			delete(s.behind, n.i)
		}
	}
}

// eligible counts the candidates node n could dial for relay now that
// would stay: known to n, not connected to it, dialable by n's own books
// (outside backoff, deferral and pruned backoff), up, reachable from n, and
// with inbound relay room.
func (s *soak) eligible(n *soakNode, status map[int]*pmv1.Status, now time.Time) int {
	ps, ok := request[*pmv1.Peers](s, n, &pmv1.GetPeers{})
	if !ok {
		return 0
	}
	count := 0
	for _, r := range ps.GetPeers() {
		j, known := s.nw.Index(peer.ID(r.GetPeerId()))
		if !known || j >= len(s.nodes) || r.GetConnectedness() == peerv1.Connectedness_CONNECTEDNESS_CONNECTED ||
			r.GetDialExcluded() || len(r.GetAddresses()) == 0 || (r.GetNextDialTime() != nil && r.GetNextDialTime().AsTime().After(now)) {
			continue
		}
		if len(r.GetProtocols()) > 0 && !slices.Contains(r.GetProtocols(), peermanager.WakuRelayCodec) {
			continue
		}
		st := status[j]
		if !s.reachable(n.i, j) || st == nil || st.GetInRelayPeers() >= st.GetInRelayTarget() {
			continue
		}
		count++
	}
	return count
}

// report logs the table and fails on any broken invariant.
func (s *soak) report() {
	var b strings.Builder
	fmt.Fprintf(&b, "churn soak: %d nodes, %s of protocol time\n", len(s.nodes), s.plan.length)
	fmt.Fprintf(&b, "| event | heals | healed | time to heal median | p99 | dials per heal median | p99 | largest store |\n|---|---|---|---|---|---|---|---|\n")
	events := make([]string, 0, len(s.healStats))
	for e := range s.healStats {
		events = append(events, e)
	}
	slices.Sort(events)
	for _, e := range events {
		var took []time.Duration
		var spent []float64
		store := 0
		for _, h := range s.healStats[e] {
			store = max(store, h.store)
			if h.done {
				took = append(took, h.took.Round(time.Second))
				spent = append(spent, h.spent)
			}
		}
		slices.Sort(took)
		slices.Sort(spent)
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %.0f | %.0f | %d |\n", e, len(s.healStats[e]), len(took),
			pct(took, 50), pct(took, 99), pctF(spent, 50), pctF(spent, 99), store)
	}
	fmt.Fprintf(&b, "inbound flood: %d fresh ids, each to %d nodes; largest store during it %d (capacity %d)\n",
		s.plan.floodPeers, s.plan.floodDials, s.floodStore, s.plan.capacity)
	fmt.Fprintf(&b, "largest peer store: %d (capacity %d); most dials in flight: %.0f (cap 10); broken invariants: %d\n",
		s.maxStore, s.plan.capacity, s.maxInFlight, len(s.violations))
	s.t.Log(b.String())
	// A heal still open at the end is in the table (healed < heals), not
	// an invariant: the invariants hold a node to its target only once
	// enough candidates are reachable (a node restarted 40 s before the end
	// still waits out the prune backoff of its stored peers).
	if len(s.violations) > 0 {
		s.t.Fatalf("%d broken invariants:\n%s", len(s.violations), strings.Join(s.violations, "\n"))
	}
}

func pct(xs []time.Duration, p int) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(len(xs)-1, (len(xs)*p+99)/100-1)]
}

func pctF(xs []float64, p int) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(len(xs)-1, (len(xs)*p+99)/100-1)]
}

func (s *soak) dump(n *soakNode, status map[int]*pmv1.Status, now time.Time) {
	ps, _ := request[*pmv1.Peers](s, n, &pmv1.GetPeers{})
	s.t.Logf("node %d status %v dials %v", n.i, status[n.i], s.dialsNow(n))
	for _, r := range ps.GetPeers() {
		j, _ := s.nw.Index(peer.ID(r.GetPeerId()))
		next := ""
		if r.GetNextDialTime() != nil {
			next = r.GetNextDialTime().AsTime().Sub(now).String()
		}
		st := status[j]
		if len(r.GetProtocols()) <= 2 && len(r.GetProtocols()) > 0 {
			s.t.Logf("  peer %d protocols %v", j, r.GetProtocols())
		}
		s.t.Logf("  peer %d %v %v fail=%d next=%s protos=%d origin=%v | remote in %d/%d out %d up=%v reach=%v", j, r.GetConnectedness(), r.GetDirection(),
			r.GetFailedAttempts(), next, len(r.GetProtocols()), r.GetOrigin(), st.GetInRelayPeers(), st.GetInRelayTarget(), st.GetOutRelayPeers(), j < len(s.nodes) && s.nodes[j].up, j < len(s.nodes) && s.reachable(n.i, j))
	}
	conns := s.nw.Hosts[n.i].Network().Peers()
	dialerPID := actor.NewPID(n.pm.GetAddress(), strings.TrimSuffix(n.pm.GetId(), "peermanager")+"dialer")
	ds, err := s.sys.Root.RequestFuture(dialerPID, &dialerv1.GetDialStatus{}, 10*time.Second).Result()
	s.t.Logf("  host peers %d; dial pool %v %v", len(conns), ds, err)
	n.logs.mu.Lock()
	for _, l := range n.logs.lines {
		if strings.Contains(l, "actor=peermanager") && !strings.Contains(l, "adding peer") {
			s.t.Logf("LOG %s", strings.TrimSpace(l))
		}
	}
	n.logs.mu.Unlock()
}

type ring struct {
	mu    sync.Mutex
	lines []string
}

func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, string(p))
	if len(r.lines) > 400 {
		r.lines = r.lines[len(r.lines)-300:]
	}
	return len(p), nil
}
