package dialer

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// Effects is what one call of the pool core asks its shell to do, as data
// (the shape of etcd raft's Ready). The shell executes it in field order:
//
//  1. Abort: cancel the context of each listed running dial. It comes first
//     so a dial whose requesters were just told CANCELLED stops as soon as
//     possible.
//  2. Start: launch each dial, with its own context bounded by Timeout.
//  3. Answer: send each DialCompleted.
//  4. Ended: record metrics of each dial that ended.
//
// The slices belong to the pool and are reused: they are valid only until
// the next call of a Pool method, which keeps the core free of per-call
// allocations.
type Effects[W any] struct {
	Abort  []uint64
	Start  []Start
	Answer []Answer[W]
	Ended  []Ended
}

// Start asks the shell to run one dial. When it finishes the shell calls
// Pool.OnDialFinished with ID exactly once, whether or not it was aborted.
type Start struct {
	ID       uint64
	Peer     peer.ID
	Addrs    []ma.Multiaddr
	Protocol string
	Timeout  time.Duration
}

// Answer is one DialCompleted for one requester.
type Answer[W any] struct {
	To       W
	Peer     peer.ID
	Protocol string
	Outcome  dialerv1.DialOutcome
	Reason   string
	// Rejected says why the pool did not attempt the dial; RejectNone unless
	// Outcome is REJECTED.
	Rejected RejectReason
	// Duration runs from this requester's DialPeer to the answer.
	Duration time.Duration
}

// Ended reports a dial the pool stopped tracking for its requesters: it
// completed, or it was cancelled while queued or running.
type Ended struct {
	Peer peer.ID
	// Source is the source of the request that created the dial.
	Source  dialerv1.DialSource
	Outcome dialerv1.DialOutcome
	// Ran says the dial had a slot; Took is then the time from its start.
	Ran  bool
	Took time.Duration
}

// RejectReason is why a request was answered REJECTED without a dial; it is
// the label of the rejection metric.
type RejectReason int

const (
	RejectNone RejectReason = iota
	// RejectInvalid: the DialPeer did not decode or broke a limit.
	RejectInvalid
	// RejectSelf: the peer is this node.
	RejectSelf
	// RejectQueueFull: MaxQueued dials are already waiting.
	RejectQueueFull
	// RejectTooManyWaiters: MaxWaitersPerDial requesters already wait on the
	// dial this request would join.
	RejectTooManyWaiters
	// RejectMisconfigured: the actor was built with a Config that does not
	// validate; it answers every request this way instead of dialing.
	RejectMisconfigured
	// RejectInvalidCancel counts CancelDial messages with an invalid peer id
	// (rejection metric only: CancelDial has no answer).
	RejectInvalidCancel

	numRejectReasons = iota
)

// String is the metric label.
func (r RejectReason) String() string {
	switch r {
	case RejectNone:
		return "none"
	case RejectInvalid:
		return "invalid_request"
	case RejectSelf:
		return "self"
	case RejectQueueFull:
		return "queue_full"
	case RejectTooManyWaiters:
		return "too_many_waiters"
	case RejectMisconfigured:
		return "misconfigured"
	case RejectInvalidCancel:
		return "invalid_cancel"
	}
	return "unknown"
}

func (e *Effects[W]) reset() {
	e.Abort = e.Abort[:0]
	e.Start = e.Start[:0]
	clear(e.Answer) // drop references to requesters
	e.Answer = e.Answer[:0]
	e.Ended = e.Ended[:0]
}
