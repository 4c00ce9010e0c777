package sim_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/actors/mesh"
	"github.com/peermesh/peermesh/actors/peermanager"
	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/internal/sim"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

// wakuDlo is the waku profile's lower mesh bound, which a healed node's
// mesh must reach again.
var wakuDlo = mesh.DefaultConfig(mesh.ProfileWaku).Dlo

// wholeNet is a set of whole peermesh nodes (storage, dial pool, peer
// manager, router, node actor) on a simulated network, each with a
// subscriber probe on the default pubsub topic, for the partition and
// long-soak scenarios: publish from a node, collect what every node's
// subscriber received (stamped with the virtual time it was taken), and
// read meshes and peer-manager state.
type wholeNet struct {
	t     *testing.T
	nw    *sim.Network
	sys   *actor.ActorSystem
	nodes []*wholeNode
	// configure changes every node's configuration before it boots.
	configure func(*peermesh.Config)

	seq int
	// published is when each message (by its RFC 14 hash) was published;
	// got[i] when node i's subscriber took it.
	published map[string]time.Time
	got       []map[string]time.Time
}

type wholeNode struct {
	i     int
	node  *peermesh.Node
	pm    *actor.PID
	sub   *sink
	store storage.Backend
	reg   *prometheus.Registry
	up    bool
}

// newWholeNet builds n hosts (seeded identities, so restarts keep their id)
// and boots a node on each.
func newWholeNet(t *testing.T, n int, seed uint64, configure func(*peermesh.Config)) *wholeNet {
	t.Helper()
	nw, err := sim.New(t, sim.Config{Nodes: n, Seed: seed, Key: soakKey(seed)})
	if err != nil {
		t.Fatal(err)
	}
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	})))
	t.Cleanup(sys.Shutdown)
	w := &wholeNet{t: t, nw: nw, sys: sys, configure: configure, published: map[string]time.Time{}}
	t.Cleanup(func() {
		for _, wn := range w.nodes {
			if wn.up {
				_ = wn.node.Close(context.Background())
			}
		}
	})
	for i := range n {
		wn := &wholeNode{i: i, store: storage.NewMemory(storage.DefaultConfig())}
		w.nodes = append(w.nodes, wn)
		w.got = append(w.got, map[string]time.Time{})
		w.boot(wn, false)
	}
	return w
}

// boot starts node wn on its host (a fresh host under the same id when
// restarting, on the store it kept) and subscribes a new probe to the
// default topic.
func (w *wholeNet) boot(wn *wholeNode, restart bool) {
	w.t.Helper()
	h := w.nw.Hosts[wn.i]
	if restart {
		var err error
		if h, err = w.nw.Restart(wn.i); err != nil {
			w.t.Fatal(err)
		}
	}
	wn.reg = prometheus.NewRegistry()
	cfg := peermesh.DefaultConfig()
	cfg.Name = fmt.Sprintf("n%d", wn.i)
	cfg.MaxConnections = soakMaxConnections
	cfg.PeerPersistence = true
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Registerer = wn.reg
	if w.configure != nil {
		w.configure(&cfg)
	}
	node, err := peermesh.NewWithHost(cfg, h, wn.store)
	if err != nil {
		w.t.Fatalf("node %d: %v", wn.i, err)
	}
	pid, err := node.Spawn(w.sys.Root)
	if err != nil {
		w.t.Fatalf("node %d: %v", wn.i, err)
	}
	wn.node, wn.up = node, true
	wn.pm = actor.NewPID(pid.GetAddress(), pid.GetId()+"/peermanager")
	synctest.Wait()
	if wn.sub != nil {
		w.sys.Root.Stop(wn.sub.pid)
	}
	wn.sub = newSink(w.sys)
	if err := node.Subscribe(context.Background(), peermesh.DefaultPubsubTopic, wn.sub.pid); err != nil {
		w.t.Fatalf("node %d subscribe: %v", wn.i, err)
	}
}

// sink is a node's subscriber: it keeps the hashes of the messages it
// receives until collect takes them (actortest.Probe's inbox of 65,536
// would weigh megabytes per restart in a soak that measures the heap).
type sink struct {
	pid    *actor.PID
	mu     sync.Mutex
	hashes []string
	other  string // the first message that was not a MessageReceived
}

func newSink(sys *actor.ActorSystem) *sink {
	s := &sink{}
	s.pid = sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch m := c.Message().(type) {
		case *apiv1.MessageReceived:
			s.hashes = append(s.hashes, m.GetMessageHash())
		case actor.SystemMessage, actor.AutoReceiveMessage:
		default:
			if s.other == "" {
				s.other = fmt.Sprintf("%T", m)
			}
		}
	}))
	return s
}

// take returns what the sink received since the last take.
func (s *sink) take() ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.hashes
	s.hashes = nil
	return out, s.other
}

// kill stops node wn as a crash would: its host first (no goodbye), then
// its actors; the store is kept.
func (w *wholeNet) kill(wn *wholeNode) {
	w.collect() // what it received before the crash counts
	_ = w.nw.Hosts[wn.i].Close()
	_ = wn.node.Close(context.Background())
	wn.up = false
}

// discover tells node i's peer manager of the nodes in others, as discv5
// would (relay protocol known from the ENR).
func (w *wholeNet) discover(i int, others []int) {
	w.t.Helper()
	wn := w.nodes[i]
	for _, j := range others {
		if j == i {
			continue
		}
		info := &pmv1.PeerInfo{PeerId: []byte(w.nw.Hosts[j].ID()), Protocols: []string{peermanager.WakuRelayCodec},
			Addresses: [][]byte{w.nw.Info(j).Addrs[0].Bytes()}}
		res, err := w.sys.Root.RequestFuture(wn.pm, &pmv1.AddPeer{Peer: info, Origin: peerv1.Origin_ORIGIN_DISCV5}, 10*time.Second).Result()
		if a, ok := res.(*pmv1.PeerAdded); err != nil || !ok || a.GetError() != "" {
			w.t.Fatalf("node %d: discover %d: %v %v", i, j, res, err)
		}
	}
}

// publish publishes a fresh WakuMessage from node i and returns its hash.
func (w *wholeNet) publish(i int) string {
	w.t.Helper()
	w.seq++
	m := &wakuv1.WakuMessage{Payload: fmt.Appendf(nil, "msg-%d-from-%d", w.seq, i), ContentTopic: "/sim/1/partition/proto"}
	_, hash, err := w.nodes[i].node.PublishMessage(context.Background(), peermesh.DefaultPubsubTopic, m)
	if err != nil {
		w.t.Fatalf("node %d publish: %v", i, err)
	}
	w.published[hash] = time.Now()
	return hash
}

// collect takes every delivery already queued at the live nodes'
// subscribers, stamped with the current virtual time.
func (w *wholeNet) collect() {
	for _, wn := range w.nodes {
		if !wn.up {
			continue
		}
		synctest.Wait() // deliveries under way at this instant arrive
		hashes, other := wn.sub.take()
		if other != "" {
			w.t.Fatalf("node %d subscriber got %s", wn.i, other)
		}
		for _, h := range hashes {
			if w.got[wn.i][h].IsZero() {
				w.got[wn.i][h] = time.Now()
			}
		}
	}
}

// missing lists, for each of nodes, the messages of hashes it has not
// received.
func (w *wholeNet) missing(nodes []int, hashes []string) []string {
	var out []string
	for _, i := range nodes {
		for _, h := range hashes {
			if w.got[i][h].IsZero() {
				out = append(out, fmt.Sprintf("node %d lacks %s…", i, h[:10]))
			}
		}
	}
	return out
}

// received counts the deliveries of hashes at nodes.
func (w *wholeNet) received(nodes []int, hashes []string) int {
	n := 0
	for _, i := range nodes {
		for _, h := range hashes {
			if !w.got[i][h].IsZero() {
				n++
			}
		}
	}
	return n
}

// latencies are the publication-to-delivery times of hashes at nodes,
// sorted.
func (w *wholeNet) latencies(nodes []int, hashes []string) []time.Duration {
	var out []time.Duration
	for _, i := range nodes {
		for _, h := range hashes {
			if at := w.got[i][h]; !at.IsZero() {
				out = append(out, at.Sub(w.published[h]))
			}
		}
	}
	slices.Sort(out)
	return out
}

// meshOf is node i's mesh of the default topic (peer ids as strings).
func (w *wholeNet) meshOf(i int) []string {
	ms, err := w.nodes[i].node.Mesh(context.Background())
	if err != nil {
		w.t.Fatalf("node %d mesh: %v", i, err)
	}
	for _, m := range ms {
		if m.GetTopic() == peermesh.DefaultPubsubTopic {
			return m.GetPeerIds()
		}
	}
	return nil
}

// index is the node of a peer id string.
func (w *wholeNet) index(id string) int {
	for _, wn := range w.nodes {
		if w.nw.Hosts[wn.i].ID().String() == id {
			return wn.i
		}
	}
	return -1
}

// connected reports whether nodes i and j have a connection.
func (w *wholeNet) connected(i, j int) bool {
	return w.nw.Hosts[i].Network().Connectedness(w.nw.Hosts[j].ID()) == network.Connected
}

// status asks node i's peer manager for its status.
func (w *wholeNet) status(i int) *pmv1.Status {
	res, err := w.sys.Root.RequestFuture(w.nodes[i].pm, &pmv1.GetStatus{}, 10*time.Second).Result()
	st, ok := res.(*pmv1.Status)
	if err != nil || !ok {
		w.t.Fatalf("node %d status: %v %v", i, res, err)
	}
	return st
}
