package dialer

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// numPriorities is the number of queue classes; see priorityOf.
const numPriorities = 5

// priorityOf ranks sources, 0 first: an operator's static nodes and API/REST
// requests come before reconnecting stored peers (cache), which come before
// service slots, the relay connectivity loop and peer-exchange candidates.
// Unknown values rank last; ParseDialPeer refuses them anyway.
func priorityOf(s dialerv1.DialSource) int {
	switch s {
	case dialerv1.DialSource_DIAL_SOURCE_STATIC, dialerv1.DialSource_DIAL_SOURCE_API,
		dialerv1.DialSource_DIAL_SOURCE_UNSPECIFIED:
		return 0
	case dialerv1.DialSource_DIAL_SOURCE_CACHE:
		return 1
	case dialerv1.DialSource_DIAL_SOURCE_SERVICE:
		return 2
	case dialerv1.DialSource_DIAL_SOURCE_RELAY:
		return 3
	}
	return 4
}

type dialState uint8

const (
	stateQueued dialState = iota + 1
	stateRunning
	// stateAborted: cancelled while running. Its requesters have been
	// answered, but it keeps its slot until its goroutine reports, so the
	// number of dials really running never exceeds MaxInFlight.
	stateAborted
)

type waiter[W any] struct {
	to    W
	since time.Time
}

// dial is one connection attempt (queued or running) and everyone waiting
// on it.
type dial[W any] struct {
	id      uint64
	req     Request
	prio    int
	state   dialState
	started time.Time
	waiters []waiter[W]
	// inline backs waiters for the usual single requester, saving an
	// allocation per dial.
	inline [1]waiter[W]
	// prev/next link the dial into its priority's FIFO while queued.
	prev, next *dial[W]
	// samePeer chains the live dials of one peer (one per protocol).
	samePeer *dial[W]
}

// fifo is an intrusive doubly linked queue: O(1) push, pop and removal from
// the middle (cancel, priority promotion) without allocating.
type fifo[W any] struct {
	head, tail *dial[W]
}

func (q *fifo[W]) push(d *dial[W]) {
	d.prev, d.next = q.tail, nil
	if q.tail == nil {
		q.head = d
	} else {
		q.tail.next = d
	}
	q.tail = d
}

func (q *fifo[W]) remove(d *dial[W]) {
	if d.prev == nil {
		q.head = d.next
	} else {
		d.prev.next = d.next
	}
	if d.next == nil {
		q.tail = d.prev
	} else {
		d.next.prev = d.prev
	}
	d.prev, d.next = nil, nil
}

// Pool is the pure core of the dial pool: admission, the priority FIFO, the
// dedupe set and the in-flight set. It has no goroutines, clock or I/O;
// every method takes now and returns the Effects to execute. W identifies a
// requester (the actor uses *actor.PID; tests use anything).
//
// It is not safe for concurrent use; the actor owns it.
type Pool[W any] struct {
	cfg  Config
	self peer.ID
	// live holds, per peer, the chain of its queued and running dials that
	// requesters still wait on (aborted dials are not live).
	live map[peer.ID]*dial[W]
	// running holds every dial with a slot, aborted ones included.
	running map[uint64]*dial[W]
	queues  [numPriorities]fifo[W]
	queued  int
	lastID  uint64
	eff     Effects[W]
}

// NewPool returns an empty pool for the node self. cfg must validate.
func NewPool[W any](cfg Config, self peer.ID) *Pool[W] {
	return &Pool[W]{
		cfg:     cfg,
		self:    self,
		live:    make(map[peer.ID]*dial[W]),
		running: make(map[uint64]*dial[W], cfg.MaxInFlight),
	}
}

// InFlight is the number of dials holding a slot, aborted ones included.
func (p *Pool[W]) InFlight() int { return len(p.running) }

// Queued is the number of dials waiting for a slot.
func (p *Pool[W]) Queued() int { return p.queued }

// Enqueue admits one DialPeer from requester to (nwaku's connectRelay and
// dialPeer entry point). connected says whether the host already has a
// connection to the peer. The rules, in order:
//
//  1. dialing self is REJECTED;
//  2. a connected peer is answered CONNECTED at once, unless a protocol is
//     asked for: that still needs a stream to check support;
//  3. a request for a peer and protocol already queued or running joins that
//     dial (REJECTED beyond MaxWaitersPerDial); joining queued with a higher
//     priority moves it to the tail of that priority's queue, and new
//     addresses are added to it;
//  4. with a free slot the dial starts;
//  5. otherwise it waits in its priority's FIFO;
//  6. with MaxQueued dials waiting it is REJECTED.
func (p *Pool[W]) Enqueue(now time.Time, to W, req Request, connected bool) Effects[W] {
	p.eff.reset()
	switch {
	case req.Peer == p.self:
		p.reject(to, req, RejectSelf, "dialing self is not allowed")
	case connected && req.Protocol == "":
		p.eff.Answer = append(p.eff.Answer, Answer[W]{
			To: to, Peer: req.Peer, Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED,
		})
	default:
		if d := p.find(req.Peer, req.Protocol); d != nil {
			p.join(now, d, to, req)
			break
		}
		if len(p.running) >= p.cfg.MaxInFlight && p.queued >= p.cfg.MaxQueued {
			p.reject(to, req, RejectQueueFull,
				fmt.Sprintf("dial queue full: %d dials waiting (MaxQueued)", p.queued))
			break
		}
		d := &dial[W]{req: req, prio: priorityOf(req.Source)}
		d.inline[0] = waiter[W]{to: to, since: now}
		d.waiters = d.inline[:1:1]
		d.samePeer = p.live[req.Peer]
		p.live[req.Peer] = d
		if len(p.running) < p.cfg.MaxInFlight {
			p.start(now, d)
		} else {
			d.state = stateQueued
			p.queues[d.prio].push(d)
			p.queued++
		}
	}
	return p.eff
}

// OnDialFinished records the result of the running dial id and gives its
// slot to the next queued dial. A report for an aborted dial only frees the
// slot (its requesters were answered when it was cancelled); a report for an
// unknown id is ignored, so a late or repeated report never answers twice.
func (p *Pool[W]) OnDialFinished(now time.Time, id uint64, outcome dialerv1.DialOutcome, reason string) Effects[W] {
	p.eff.reset()
	d, ok := p.running[id]
	if !ok {
		return p.eff
	}
	delete(p.running, id)
	if d.state == stateRunning {
		if !dialOutcome(outcome) {
			reason = fmt.Sprintf("dialer reported outcome %v: %s", outcome, reason)
			outcome = dialerv1.DialOutcome_DIAL_OUTCOME_FAILED
		}
		p.unlink(d)
		p.finish(now, d, outcome, reason)
	}
	p.fill(now)
	return p.eff
}

// Cancel ends every queued or running dial of the peer (whatever its
// protocol); their requesters are answered CANCELLED and running ones are
// aborted. Cancelling a peer with no dial does nothing.
func (p *Pool[W]) Cancel(now time.Time, id peer.ID) Effects[W] {
	p.eff.reset()
	for d := p.live[id]; d != nil; {
		next := d.samePeer
		d.samePeer = nil
		p.cancel(now, d, "cancelled by CancelDial")
		d = next
	}
	delete(p.live, id)
	return p.eff
}

// Stop cancels everything, as when the actor stops: every requester is
// answered CANCELLED with reason, every running dial is aborted. The pool
// stays usable; aborted dials still report through OnDialFinished.
//
// Running dials are answered first, in start order, then queued ones in the
// order they would have started, so the effects are deterministic.
func (p *Pool[W]) Stop(now time.Time, reason string) Effects[W] {
	p.eff.reset()
	running := make([]*dial[W], 0, len(p.running))
	for _, d := range p.running {
		if d.state == stateRunning {
			running = append(running, d)
		}
	}
	slices.SortFunc(running, func(a, b *dial[W]) int { return cmp.Compare(a.id, b.id) })
	for _, d := range running {
		p.cancel(now, d, reason)
	}
	for prio := range p.queues {
		for d := p.queues[prio].head; d != nil; d = p.queues[prio].head {
			p.cancel(now, d, reason)
		}
	}
	for _, head := range p.live {
		for d := head; d != nil; {
			next := d.samePeer
			d.samePeer = nil
			d = next
		}
	}
	clear(p.live)
	return p.eff
}

func (p *Pool[W]) cancel(now time.Time, d *dial[W], reason string) {
	if d.state == stateQueued {
		p.queues[d.prio].remove(d)
		p.queued--
	} else {
		d.state = stateAborted
		p.eff.Abort = append(p.eff.Abort, d.id)
	}
	p.finish(now, d, dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, reason)
}

// finish answers every waiter of d and reports it ended; the caller has
// taken d out of the live set.
func (p *Pool[W]) finish(now time.Time, d *dial[W], outcome dialerv1.DialOutcome, reason string) {
	for _, w := range d.waiters {
		p.eff.Answer = append(p.eff.Answer, Answer[W]{
			To: w.to, Peer: d.req.Peer, Protocol: d.req.Protocol,
			Outcome: outcome, Reason: reason, Duration: now.Sub(w.since),
		})
	}
	clear(d.waiters)
	d.waiters = d.waiters[:0]
	ended := Ended{Peer: d.req.Peer, Source: d.req.Source, Outcome: outcome}
	if d.state != stateQueued {
		ended.Ran, ended.Took = true, now.Sub(d.started)
	}
	p.eff.Ended = append(p.eff.Ended, ended)
}

// reject answers to without a dial; the answer is immediate, so its
// duration is zero.
func (p *Pool[W]) reject(to W, req Request, why RejectReason, reason string) {
	p.eff.Answer = append(p.eff.Answer, Answer[W]{
		To: to, Peer: req.Peer, Protocol: req.Protocol,
		Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED, Reason: reason, Rejected: why,
	})
}

func (p *Pool[W]) join(now time.Time, d *dial[W], to W, req Request) {
	if len(d.waiters) >= p.cfg.MaxWaitersPerDial {
		p.reject(to, req, RejectTooManyWaiters,
			fmt.Sprintf("%d requesters already wait on this dial (MaxWaitersPerDial)", len(d.waiters)))
		return
	}
	d.waiters = append(d.waiters, waiter[W]{to: to, since: now})
	if d.state != stateQueued {
		return
	}
	d.req.Addrs = mergeAddrs(d.req.Addrs, req.Addrs, p.cfg.MaxAddresses)
	if prio := priorityOf(req.Source); prio < d.prio {
		p.queues[d.prio].remove(d)
		d.prio = prio
		p.queues[prio].push(d)
	}
}

// mergeAddrs returns have plus the addresses of add it lacks, at most limit
// in all. It never appends to have in place: that slice may be shared with
// the request that brought it.
func mergeAddrs(have, add []ma.Multiaddr, limit int) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range add {
		if len(have)+len(out) >= limit {
			break
		}
		if containsAddr(have, a) || containsAddr(out, a) {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return have
	}
	return append(append(make([]ma.Multiaddr, 0, len(have)+len(out)), have...), out...)
}

func containsAddr(list []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, b := range list {
		if b.Equal(a) {
			return true
		}
	}
	return false
}

func (p *Pool[W]) find(id peer.ID, protocol string) *dial[W] {
	for d := p.live[id]; d != nil; d = d.samePeer {
		if d.req.Protocol == protocol {
			return d
		}
	}
	return nil
}

// unlink removes d from its peer's chain of live dials.
func (p *Pool[W]) unlink(d *dial[W]) {
	head := p.live[d.req.Peer]
	if head == d {
		if d.samePeer == nil {
			delete(p.live, d.req.Peer)
		} else {
			p.live[d.req.Peer] = d.samePeer
		}
		d.samePeer = nil
		return
	}
	for prev := head; prev != nil; prev = prev.samePeer {
		if prev.samePeer == d {
			prev.samePeer = d.samePeer
			d.samePeer = nil
			return
		}
	}
}

func (p *Pool[W]) start(now time.Time, d *dial[W]) {
	p.lastID++
	d.id, d.state, d.started = p.lastID, stateRunning, now
	p.running[d.id] = d
	p.eff.Start = append(p.eff.Start, Start{
		ID: d.id, Peer: d.req.Peer, Addrs: d.req.Addrs, Protocol: d.req.Protocol, Timeout: d.req.Timeout,
	})
}

// fill starts queued dials, highest priority first and FIFO within a
// priority, while slots are free.
func (p *Pool[W]) fill(now time.Time) {
	for prio := 0; prio < numPriorities && len(p.running) < p.cfg.MaxInFlight; {
		d := p.queues[prio].head
		if d == nil {
			prio++
			continue
		}
		p.queues[prio].remove(d)
		p.queued--
		p.start(now, d)
	}
}

// dialOutcome reports whether o can be the result of a dial attempt.
func dialOutcome(o dialerv1.DialOutcome) bool {
	switch o {
	case dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED, dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT,
		dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED, dialerv1.DialOutcome_DIAL_OUTCOME_FAILED,
		dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE:
		return true
	}
	return false
}
