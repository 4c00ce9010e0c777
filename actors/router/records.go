package router

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// recordBook keeps the signed peer records identify brings, for the peer
// exchange in our PRUNEs (gossipsub v1.1 asks for them so the receiver can
// dial without trusting us). go-libp2p no longer stores them in the
// peerstore, so this I/O edge of the router subscribes to identify events
// itself. Like the peerstore it is safe for concurrent use: the topic actors
// read it through mesh.Deps.PeerRecord. It is bounded: at capacity the
// oldest record is evicted and counted.
type recordBook struct {
	mu      sync.Mutex
	max     int
	recs    map[peer.ID][]byte
	order   []peer.ID // insertion order, for eviction
	evicted func()
}

// startRecordBook subscribes to h's identify events; stop ends the
// subscription goroutine.
func startRecordBook(h host.Host, max int, evicted func()) (b *recordBook, stop func(), err error) {
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, nil, err
	}
	b = &recordBook{max: max, recs: map[peer.ID][]byte{}, evicted: evicted}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range sub.Out() {
			e, ok := ev.(event.EvtPeerIdentificationCompleted)
			if !ok || e.SignedPeerRecord == nil {
				continue
			}
			if raw, err := e.SignedPeerRecord.Marshal(); err == nil {
				b.put(e.Peer, raw)
			}
		}
	}()
	return b, func() { _ = sub.Close(); <-done }, nil
}

func (b *recordBook) put(id peer.ID, raw []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.recs[id]; !ok {
		if len(b.recs) >= b.max && len(b.order) > 0 {
			delete(b.recs, b.order[0])
			b.order = b.order[1:]
			if b.evicted != nil {
				b.evicted()
			}
		}
		b.order = append(b.order, id)
	}
	b.recs[id] = raw
}

// Get returns the marshalled signed envelope held for id, or nil.
func (b *recordBook) Get(id peer.ID) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recs[id]
}
