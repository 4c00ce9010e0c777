package mesh

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/score"
)

// A deterministic in-memory network of Topic cores (raft's network in
// raft_test.go, for gossipsub): effects become events, delivered in FIFO
// order, so that whole-network properties can be checked without sockets
// or clocks.

type event struct {
	to, from peer.ID
	apply    func(tp *Topic, now time.Time) *Effects
}

type network struct {
	t         *testing.T
	nodes     map[peer.ID]*Topic
	ids       []peer.ID
	queue     []event
	delivered map[peer.ID]map[MessageID]int
	penalties map[peer.ID]float64
	// silent nodes receive and deliver but never send a message.
	silent map[peer.ID]bool
	// routers score each node's peers when set (scored networks).
	routers map[peer.ID]*router
}

func newNetwork(t *testing.T, n, degree int, seed uint64) *network {
	nw := &network{t: t, nodes: map[peer.ID]*Topic{}, delivered: map[peer.ID]map[MessageID]int{},
		penalties: map[peer.ID]float64{}, silent: map[peer.ID]bool{}}
	cfg := DefaultConfig(ProfileWaku)
	cfg.Score = score.StrictWakuTopicParams() // silent nodes must score negative
	for i := range n {
		id := pid(i)
		tp, err := NewTopic("t", cfg, rand.New(rand.NewPCG(seed, uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		nw.nodes[id] = tp
		nw.ids = append(nw.ids, id)
		nw.delivered[id] = map[MessageID]int{}
	}
	r := rand.New(rand.NewPCG(seed, 99))
	for i, a := range nw.ids {
		for range degree / 2 { // each node dials degree/2 others
			b := nw.ids[r.IntN(n)]
			if b == a || nw.nodes[a].peers[b] != nil {
				continue
			}
			feat := Features{PX: true, Backoff: true, IDontWant: i%2 == 0}
			nw.nodes[a].AddPeer(t0, PeerAttrs{ID: b, Outbound: true, Features: feat})
			nw.nodes[b].AddPeer(t0, PeerAttrs{ID: a, Features: feat})
		}
	}
	return nw
}

// emit turns the effects of node from into events. It copies what it needs,
// since the Topic reuses its Effects on the next call.
func (nw *network) emit(from peer.ID, fx *Effects) {
	for _, p := range fx.Penalties {
		nw.penalties[p.Peer] += p.Amount
		if r := nw.routers[from]; r != nil {
			r.apply(&Effects{Penalties: []Penalty{p}})
		}
	}
	for _, p := range fx.Prunes {
		secs := uint64(p.Backoff / time.Second)
		nw.queue = append(nw.queue, event{to: p.To, from: from, apply: func(tp *Topic, now time.Time) *Effects {
			return tp.HandlePrune(now, from, &gossipsubv1.ControlPrune{Backoff: &secs})
		}})
	}
	for _, to := range fx.Grafts {
		nw.queue = append(nw.queue, event{to: to, from: from, apply: func(tp *Topic, now time.Time) *Effects {
			return tp.HandleGraft(now, from)
		}})
	}
	for _, d := range fx.IDontWants {
		id := d.ID
		for _, to := range d.To {
			nw.queue = append(nw.queue, event{to: to, from: from, apply: func(tp *Topic, now time.Time) *Effects {
				tp.HandleIDontWant(now, from, [][]byte{[]byte(id)})
				return nil
			}})
		}
	}
	for _, s := range fx.Sends {
		if nw.silent[from] {
			break
		}
		id, m := s.ID, s.Msg
		for _, to := range s.To {
			nw.queue = append(nw.queue, event{to: to, from: from, apply: func(tp *Topic, now time.Time) *Effects {
				return tp.HandleMessage(now, from, id, m)
			}})
		}
	}
	for _, w := range fx.IWants {
		raw := make([][]byte, len(w.IDs))
		for i, id := range w.IDs {
			raw[i] = []byte(id)
		}
		nw.queue = append(nw.queue, event{to: w.To, from: from, apply: func(tp *Topic, now time.Time) *Effects {
			return tp.HandleIWant(now, from, raw)
		}})
	}
	for _, h := range fx.IHaves {
		raw := make([][]byte, len(h.IDs))
		for i, id := range h.IDs {
			raw[i] = []byte(id)
		}
		for _, to := range h.To {
			nw.queue = append(nw.queue, event{to: to, from: from, apply: func(tp *Topic, now time.Time) *Effects {
				return tp.HandleIHave(now, from, raw, 5000)
			}})
		}
	}
	for _, d := range fx.Deliveries {
		nw.delivered[from][d.ID]++
	}
	// Validation is immediate and always accepts: queue the result to self.
	for _, v := range fx.Validations {
		id := v.ID
		nw.queue = append(nw.queue, event{to: from, from: from, apply: func(tp *Topic, now time.Time) *Effects {
			return tp.HandleValidated(now, id, ValidationAccept)
		}})
	}
}

// settle delivers events until the network is quiet.
func (nw *network) settle(now time.Time) {
	for steps := 0; len(nw.queue) > 0; steps++ {
		if steps > 1_000_000 {
			nw.t.Fatal("network does not settle")
		}
		ev := nw.queue[0]
		nw.queue = nw.queue[1:]
		if fx := ev.apply(nw.nodes[ev.to], now); fx != nil {
			nw.emit(ev.to, fx)
		}
	}
}

func (nw *network) heartbeat(now time.Time) {
	for _, id := range nw.ids {
		if r := nw.routers[id]; r != nil {
			r.rescore(nw.nodes[id])
		}
		nw.emit(id, nw.nodes[id].Heartbeat(now))
		nw.settle(now)
	}
}

func TestNetworkMeshConvergesAndDelivers(t *testing.T) {
	nw := newNetwork(t, 40, 16, 1)
	for _, id := range nw.ids {
		nw.emit(id, nw.nodes[id].Join(t0))
	}
	nw.settle(t0)
	now := t0
	for range 5 {
		now = now.Add(time.Second)
		nw.heartbeat(now)
	}
	nw.checkMesh(t)
	// Every node gets each published message exactly once, by mesh or gossip.
	for k := range 10 {
		src := nw.ids[k*3]
		id := MessageID(fmt.Sprint("msg-", k))
		nw.emit(src, nw.nodes[src].Publish(now, id, &gossipsubv1.Message{Data: make([]byte, 2000)}))
		nw.settle(now)
	}
	for range 3 {
		now = now.Add(time.Second)
		nw.heartbeat(now)
	}
	for k := range 10 {
		id := MessageID(fmt.Sprint("msg-", k))
		for _, a := range nw.ids {
			if a == nw.ids[k*3] {
				continue
			}
			if got := nw.delivered[a][id]; got != 1 {
				t.Errorf("%s delivered %s %d times", string(a), id, got)
			}
		}
	}
	// Honest nodes do not penalise each other.
	for id, p := range nw.penalties {
		t.Errorf("honest %s penalised %v", string(id), p)
	}
}

// A quarter of the nodes forward nothing. With the shipped waku score
// parameters the honest nodes prune them once P3 activates, and every
// honest node still gets every message.
func TestNetworkSilentNodesArePrunedOut(t *testing.T) {
	nw := newNetwork(t, 40, 16, 2)
	nw.routers = map[peer.ID]*router{}
	for i, id := range nw.ids {
		nw.routers[id] = newRouter("t")
		if i%4 == 3 {
			nw.silent[id] = true
		}
	}
	for _, id := range nw.ids {
		nw.emit(id, nw.nodes[id].Join(t0))
	}
	nw.settle(t0)
	now := t0
	publish := func(k int) {
		src := nw.ids[(k*7)%len(nw.ids)]
		if nw.silent[src] {
			src = nw.ids[0]
		}
		id := MessageID(fmt.Sprint("msg-", k))
		nw.emit(src, nw.nodes[src].Publish(now, id, &gossipsubv1.Message{Data: make([]byte, 100)}))
		nw.settle(now)
	}
	silentLinks := func() int {
		n := 0
		for _, a := range nw.ids {
			for _, b := range nw.nodes[a].MeshPeers() {
				if !nw.silent[a] && nw.silent[b] {
					n++
				}
			}
		}
		return n
	}
	for s := range 40 {
		now = now.Add(time.Second)
		publish(s)
		nw.heartbeat(now)
		if s == 5 && silentLinks() == 0 {
			t.Fatal("no honest node meshes a silent one: the scenario tests nothing")
		}
	}
	if n := silentLinks(); n > 0 {
		t.Errorf("%d honest→silent mesh links left after 40 s", n)
	}
	// The last 10 messages, published after the silent nodes were pruned out,
	// reach every honest node.
	for k := 30; k < 40; k++ {
		id := MessageID(fmt.Sprint("msg-", k))
		missing := 0
		for _, a := range nw.ids {
			if !nw.silent[a] && nw.delivered[a][id] == 0 && a != nw.ids[(k*7)%len(nw.ids)] && a != nw.ids[0] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s missing at %d honest nodes", id, missing)
		}
	}
}

// disconnect removes the link between a and b on both sides.
func (nw *network) disconnect(now time.Time, a, b peer.ID) {
	nw.nodes[a].RemovePeer(now, b)
	nw.nodes[b].RemovePeer(now, a)
}

// checkMesh asserts a symmetric mesh within [Dlo, Dhi] wherever a node has
// at least Dlo peers.
func (nw *network) checkMesh(t *testing.T) {
	t.Helper()
	for _, a := range nw.ids {
		tp := nw.nodes[a]
		n := len(tp.MeshPeers())
		if len(tp.TopicPeers()) >= tp.cfg.Dlo && (n < tp.cfg.Dlo || n > tp.cfg.Dhi) {
			t.Errorf("%s: mesh %d of %d peers", string(a), n, len(tp.TopicPeers()))
		}
		for _, b := range tp.MeshPeers() {
			if !nw.nodes[b].InMesh(a) {
				t.Errorf("asymmetric mesh: %s has %s, not the reverse", string(a), string(b))
			}
		}
	}
}

// A third of every node's mesh links break at once; the meshes repair
// themselves and stay symmetric. Repair can take one PruneBackoff: the
// GRAFT/PRUNE exchanges of the join left mutual 60 s backoffs between peers
// whose meshes were full, and a node never grafts a peer it backs off from.
func TestNetworkMeshRepairsAfterChurn(t *testing.T) {
	nw := newNetwork(t, 40, 20, 3)
	for _, id := range nw.ids {
		nw.emit(id, nw.nodes[id].Join(t0))
	}
	nw.settle(t0)
	now := t0
	for range 3 {
		now = now.Add(time.Second)
		nw.heartbeat(now)
	}
	nw.checkMesh(t)
	for i, a := range nw.ids {
		for j, b := range nw.nodes[a].MeshPeers() {
			if (i+j)%3 == 0 {
				nw.disconnect(now, a, b)
			}
		}
	}
	for range 62 {
		now = now.Add(time.Second)
		nw.heartbeat(now)
	}
	nw.checkMesh(t)
	for id, p := range nw.penalties {
		t.Errorf("honest %s penalised %v", string(id), p)
	}
}
