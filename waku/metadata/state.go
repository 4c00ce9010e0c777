package metadata

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// queue is the core of the actor: which exchanges run and which wait. It is
// deterministic; the actor turns its answers into goroutines and metrics.
type queue struct {
	maxInFlight, maxQueued int
	inFlight               map[peer.ID]struct{}
	waiting                []peer.ID
	queued                 map[peer.ID]struct{}
}

func newQueue(maxInFlight, maxQueued int) *queue {
	return &queue{maxInFlight: maxInFlight, maxQueued: maxQueued,
		inFlight: map[peer.ID]struct{}{}, queued: map[peer.ID]struct{}{}}
}

// connected decides for a newly connected peer: start now, wait, or drop
// (the queue is full). A peer already being asked or waiting is a no-op.
func (q *queue) connected(p peer.ID) (start, dropped bool) {
	if _, ok := q.inFlight[p]; ok {
		return false, false
	}
	if _, ok := q.queued[p]; ok {
		return false, false
	}
	if len(q.inFlight) < q.maxInFlight {
		q.inFlight[p] = struct{}{}
		return true, false
	}
	if len(q.waiting) >= q.maxQueued {
		return false, true
	}
	q.waiting = append(q.waiting, p)
	q.queued[p] = struct{}{}
	return false, false
}

// done ends p's exchange and returns the next peer to ask, if any.
func (q *queue) done(p peer.ID) (next peer.ID, ok bool) {
	if _, running := q.inFlight[p]; !running {
		return "", false
	}
	delete(q.inFlight, p)
	if len(q.waiting) == 0 {
		return "", false
	}
	next = q.waiting[0]
	q.waiting = q.waiting[1:]
	delete(q.queued, next)
	q.inFlight[next] = struct{}{}
	return next, true
}
