package storage

import (
	"fmt"
	"slices"
	"strings"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// change is the latest pending operation for one peer: a put of rec, or a
// delete when rec is nil. Because a put replaces the whole record, the last
// operation is all that needs writing: put-then-delete is a delete,
// delete-then-put is a put.
type change struct {
	id  []byte
	rec *peerv1.PeerRecord
}

// flight is the batch being written, kept until WriteDone so that a failed
// write can be merged back into the pending set.
type flight struct {
	seq     uint64
	changes map[string]change
	waiters []waiter
}

type waiter struct {
	token   uint64
	dropped int // changes refused since the previous Flush request
}

// WriteBehind is the pure core of the storage actor: the pending buffer of
// changes, coalesced per peer id, and the decision of when to write it.
//
// It does no I/O and keeps no clock; time enters only as Tick calls (the
// heartbeat). Writes are serial: at most one batch is in flight.
//
// When the backend fails, the batch is merged back under newer changes, every
// waiting Flush (of that batch and of the next) is answered with the error,
// and threshold-driven
// writes pause (no retry storm against a failing disk); Tick and Flush keep
// retrying. The buffer is bounded by MaxPending counting pending and
// in-flight changes; see Config.MaxPending for the behaviour when full.
type WriteBehind struct {
	threshold  int
	maxPending int
	maxID      int
	maxBytes   int
	maxWaiters int

	pending map[string]change
	flight  *flight
	next    []waiter // Flush requests waiting for the pending changes
	seq     uint64
	dropped int  // changes refused since the last Flush request
	failing bool // the last write failed
	scratch []byte
}

// NewWriteBehind returns an empty core with cfg's limits.
func NewWriteBehind(cfg Config) *WriteBehind {
	return &WriteBehind{
		threshold:  cfg.FlushThreshold,
		maxPending: cfg.MaxPending,
		maxID:      cfg.MaxPeerIDBytes,
		maxBytes:   cfg.MaxRecordBytes,
		maxWaiters: cfg.MaxFlushWaiters,
		pending:    map[string]change{},
	}
}

// Pending is the number of changes not yet durable: pending plus in flight.
func (w *WriteBehind) Pending() int {
	n := len(w.pending)
	if w.flight != nil {
		n += len(w.flight.changes)
	}
	return n
}

// InFlight reports whether a write has been started and not yet reported.
func (w *WriteBehind) InFlight() bool { return w.flight != nil }

// Put records a put of rec. The record is validated by encoding it, so a
// record that the backend could not store is refused here, at once, rather
// than poisoning every later batch.
func (w *WriteBehind) Put(rec *peerv1.PeerRecord) Effects {
	var err error
	w.scratch, err = appendRecord(w.scratch[:0], rec, w.maxID, w.maxBytes)
	if err != nil {
		return w.refuse(DropInvalidRecord, rec.GetPeerId(), err.Error())
	}
	return w.add(change{id: rec.GetPeerId(), rec: rec})
}

// Delete records a delete of the record of peer id.
func (w *WriteBehind) Delete(id []byte) Effects {
	switch {
	case len(id) == 0:
		return w.refuse(DropInvalidRecord, id, "delete without a peer id")
	case len(id) > w.maxID:
		return w.refuse(DropInvalidRecord, id, fmt.Sprintf("peer id of %d bytes exceeds MaxPeerIDBytes %d", len(id), w.maxID))
	}
	return w.add(change{id: slices.Clone(id)})
}

func (w *WriteBehind) add(c change) Effects {
	key := string(c.id)
	if _, ok := w.pending[key]; !ok && w.Pending() >= w.maxPending {
		return w.refuse(DropPendingFull, c.id, fmt.Sprintf("%d changes pending (MaxPending)", w.Pending()))
	}
	w.pending[key] = c
	if len(w.pending) >= w.threshold && !w.failing {
		return w.start()
	}
	return Effects{}
}

func (w *WriteBehind) refuse(reason DropReason, id []byte, msg string) Effects {
	w.dropped++
	return Effects{Drops: []Drop{{Reason: reason, PeerID: slices.Clone(id), Err: msg}}}
}

// Tick is the periodic flush: it writes whatever is pending, including the
// retry of a failed batch.
func (w *WriteBehind) Tick() Effects {
	return w.start()
}

// Flush asks for every change received so far to be made durable; token is
// returned in the Ack. It is answered at once when nothing is pending.
func (w *WriteBehind) Flush(token uint64) Effects {
	if w.waiting() >= w.maxWaiters {
		return Effects{
			Drops: []Drop{{Reason: DropFlushWaitersFull, Err: fmt.Sprintf("%d flush requests waiting (MaxFlushWaiters)", w.waiting())}},
			Acks:  []Ack{{Waiter: token, Err: "too many flush requests waiting; retry later"}},
		}
	}
	wt := waiter{token: token, dropped: w.dropped}
	w.dropped = 0
	switch {
	case len(w.pending) > 0:
		w.next = append(w.next, wt)
		return w.start()
	case w.flight != nil:
		w.flight.waiters = append(w.flight.waiters, wt)
		return Effects{}
	default:
		return Effects{Acks: []Ack{ack(wt, 0, "")}}
	}
}

func (w *WriteBehind) waiting() int {
	n := len(w.next)
	if w.flight != nil {
		n += len(w.flight.waiters)
	}
	return n
}

// start moves the pending changes into a new in-flight batch, unless one is
// already in flight (its WriteDone starts the next) or nothing is pending.
func (w *WriteBehind) start() Effects {
	if w.flight != nil || len(w.pending) == 0 {
		return Effects{}
	}
	w.seq++
	f := &flight{seq: w.seq, changes: w.pending, waiters: w.next}
	w.pending, w.next = map[string]change{}, nil
	w.flight = f
	keys := make([]string, 0, len(f.changes))
	for k := range f.changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wr := &Write{Seq: f.seq}
	for _, k := range keys {
		if c := f.changes[k]; c.rec != nil {
			wr.Puts = append(wr.Puts, c.rec)
		} else {
			wr.Deletes = append(wr.Deletes, c.id)
		}
	}
	return Effects{Write: wr}
}

// WriteDone reports the outcome of batch seq. A report for any other batch
// is ignored (it cannot happen with one writer; ignoring it keeps a
// duplicated message harmless).
func (w *WriteBehind) WriteDone(seq uint64, err error) Effects {
	f := w.flight
	if f == nil || f.seq != seq {
		return Effects{}
	}
	w.flight = nil
	var eff Effects
	if err != nil {
		w.failing = true
		for k, c := range f.changes {
			if _, newer := w.pending[k]; !newer {
				w.pending[k] = c
			}
		}
		// Waiters of the next batch are answered too: their changes are
		// behind the failed ones, and an answer now beats one that depends
		// on a tick that may never come.
		msg := fmt.Sprintf("write failed, %d changes kept pending for retry: %v", len(w.pending), err)
		for _, wt := range append(f.waiters, w.next...) {
			eff.Acks = append(eff.Acks, ack(wt, 0, msg))
		}
		w.next = nil
		return eff
	}
	w.failing = false
	for _, wt := range f.waiters {
		eff.Acks = append(eff.Acks, ack(wt, len(f.changes), ""))
	}
	if len(w.next) > 0 || len(w.pending) >= w.threshold {
		eff.merge(w.start())
	}
	return eff
}

func ack(wt waiter, written int, errMsg string) Ack {
	var parts []string
	if errMsg != "" {
		parts = append(parts, errMsg)
	}
	if wt.dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d changes were dropped before this flush (see peermesh_storage_errors_total)", wt.dropped))
	}
	return Ack{Waiter: wt.token, Written: written, Err: strings.Join(parts, "; ")}
}

// Drain starts a final write of everything pending, for a stopping actor.
// The caller must first have reported the batch in flight (if any) with
// WriteDone; Drain returns nil when a write is still in flight or nothing is
// pending.
func (w *WriteBehind) Drain() *Write {
	return w.start().Write
}

// Shadowed reports whether a change to peer id is not yet durable, so a
// stored record of that peer is stale.
func (w *WriteBehind) Shadowed(id []byte) bool {
	if _, ok := w.pending[string(id)]; ok {
		return true
	}
	if w.flight != nil {
		_, ok := w.flight.changes[string(id)]
		return ok
	}
	return false
}

// Unwritten returns the records of pending and in-flight puts (the newest
// per peer), sorted by peer id: what LoadAll adds to the stored records.
func (w *WriteBehind) Unwritten() []*peerv1.PeerRecord {
	latest := map[string]change{}
	if w.flight != nil {
		for k, c := range w.flight.changes {
			latest[k] = c
		}
	}
	for k, c := range w.pending {
		latest[k] = c
	}
	keys := make([]string, 0, len(latest))
	for k, c := range latest {
		if c.rec != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]*peerv1.PeerRecord, len(keys))
	for i, k := range keys {
		out[i] = latest[k].rec
	}
	return out
}
