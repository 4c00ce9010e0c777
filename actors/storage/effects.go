package storage

import (
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// Effects is what the write-behind core asks its adapter to do after one
// input, like raft's Ready. The adapter executes them in field order: count
// and log Drops, answer Acks, then start Write. Acks never depend on Write:
// an Ack answers a batch that is already durable (or failed).
type Effects struct {
	// Drops are inputs the core refused; each is counted and logged.
	Drops []Drop
	// Acks are Flush requests to answer now.
	Acks []Ack
	// Write, when set, is the next backend transaction to run. The core
	// starts at most one at a time and expects WriteDone(Write.Seq, err)
	// back before it starts another.
	Write *Write
}

func (e *Effects) merge(o Effects) {
	e.Drops = append(e.Drops, o.Drops...)
	e.Acks = append(e.Acks, o.Acks...)
	if o.Write != nil {
		e.Write = o.Write
	}
}

// Write is one batch for Backend.WriteBatch: every peer id appears once,
// puts and deletes each sorted by peer id.
type Write struct {
	Seq     uint64
	Puts    []*peerv1.PeerRecord
	Deletes [][]byte
}

// Size is the number of changes in the batch.
func (w *Write) Size() int { return len(w.Puts) + len(w.Deletes) }

// Ack answers one Flush request.
type Ack struct {
	// Waiter is the token the adapter passed to Flush.
	Waiter uint64
	// Written is the number of changes in the batch that made the waiter's
	// changes durable (0 when nothing was pending).
	Written int
	// Err is empty when every change received before the Flush is durable;
	// otherwise it says why not (a failed write, or changes dropped).
	Err string
}

// DropReason says why the core refused an input; it is the "type" label of
// peermesh_storage_errors_total.
type DropReason string

// Drop reasons.
const (
	// DropInvalidRecord: a Put or Delete that cannot be stored (no peer id,
	// an oversized id or record, invalid UTF-8).
	DropInvalidRecord DropReason = "invalid_record"
	// DropPendingFull: the change would exceed Config.MaxPending.
	DropPendingFull DropReason = "pending_full"
	// DropFlushWaitersFull: a Flush request beyond Config.MaxFlushWaiters;
	// it is answered at once with an error.
	DropFlushWaitersFull DropReason = "flush_waiters_full"
)

// Drop is one refused input.
type Drop struct {
	Reason DropReason
	PeerID []byte
	Err    string
}
