package session

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// ItemOverhead is charged to the byte budget for every queued item on top of
// its encoded size, so that a flood of tiny items (empty subscriptions,
// one-byte ids) is bounded in memory as well as in wire bytes.
const ItemOverhead = 64

// numLanes is the number of priorities (control, publish, forward, gossip).
const numLanes = 4

// lane maps a priority to its lane index, highest priority first; unknown
// priorities are treated as the lowest, so a caller bug costs delivery,
// never memory. Our own publishes rank above forwards: no other node has
// them yet, so a publish shed at the publisher is a message lost, while a
// shed forward is repaired by the peer's other mesh peers or by gossip.
func lane(p pubsubv1.Priority) int {
	switch p {
	case pubsubv1.Priority_PRIORITY_CONTROL:
		return 0
	case pubsubv1.Priority_PRIORITY_PUBLISH:
		return 1
	case pubsubv1.Priority_PRIORITY_FORWARD:
		return 2
	default:
		return 3
	}
}

// item is one queued part of an outbound RPC: a subscription, a message or a
// control fragment. Exactly one of sub, msg, ctrl is set.
type item struct {
	cost      int // encoded bytes inside the RPC + ItemOverhead
	id        string
	sub       *gossipsubv1.SubOpts
	msg       *gossipsubv1.Message
	ctrl      *gossipsubv1.ControlMessage
	idw       int // IDONTWANT ids in ctrl (a frame carries a bounded number)
	cancelled bool
	at        time.Time // when it was queued (the queue's clock, see Expire)
}

// fifo is a slice-backed queue that reuses its array once drained.
type fifo struct {
	items []*item
	head  int
}

func (f *fifo) push(it *item) { f.items = append(f.items, it) }

func (f *fifo) empty() bool { return f.head == len(f.items) }

func (f *fifo) peek() *item { return f.items[f.head] }

func (f *fifo) pop() *item {
	it := f.items[f.head]
	f.items[f.head] = nil
	f.head++
	if f.head == len(f.items) {
		f.items, f.head = f.items[:0], 0
	} else if f.head > 1024 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return it
}

// Drops counts what one Push evicted or refused, by lane (control, publish,
// forward, gossip).
type Drops [numLanes]int

// Total is the number of dropped items.
func (d Drops) Total() int {
	n := 0
	for _, v := range d {
		n += v
	}
	return n
}

// Queue is a peer's outbound queue: bounded in bytes and in age, four
// priority lanes, cancellation by message id. It is a pure data structure
// owned by one session actor; it does no I/O and reads no clock: Expire
// gives it the time.
//
// When a Push does not fit, the oldest item of the lowest non-empty lane at
// or below the new item's priority is evicted, repeatedly; if that is not
// enough the new item itself is refused. An item of a lane with an age limit
// (SetMaxAge) that has waited longer than it is expired by the next Expire:
// a forward that waited that long reaches the peer later than the copies of
// its other mesh peers and gossip, and under overload the queue would
// otherwise hold seconds of traffic (ADR 0021). Every eviction, refusal and
// expiry is returned to the caller, which counts it: nothing leaves the
// queue silently.
type Queue struct {
	limit  int
	bytes  int
	lanes  [numLanes]fifo
	byID   map[string]*item
	maxAge [numLanes]time.Duration // 0: no age limit
	now    time.Time               // the latest time given to Expire
}

// NewQueue returns a queue holding at most limit bytes (see ItemOverhead),
// without age limits.
func NewQueue(limit int) *Queue {
	return &Queue{limit: limit, byID: make(map[string]*item)}
}

// SetMaxAge sets how long items of priority p may wait (0: no limit).
func (q *Queue) SetMaxAge(p pubsubv1.Priority, d time.Duration) { q.maxAge[lane(p)] = max(d, 0) }

// Expire advances the queue's clock to now (it never goes back) and drops
// the items that have waited longer than their lane's age limit, oldest
// first. Items pushed after it are stamped with now. It returns the expired
// items by lane.
func (q *Queue) Expire(now time.Time) Drops {
	if now.After(q.now) {
		q.now = now
	}
	var d Drops
	for l := range q.lanes {
		limit := q.maxAge[l]
		if limit <= 0 {
			continue
		}
		f := &q.lanes[l]
		for !f.empty() {
			it := f.peek()
			if !it.cancelled && q.now.Sub(it.at) <= limit {
				break
			}
			q.remove(f.pop())
			if !it.cancelled {
				d[l]++
			}
		}
	}
	return d
}

// OldestAge is how long the oldest live item of priority p has waited, by
// the queue's clock (the latest Expire); false when the lane is empty.
// Cancelled placeholders at the lane's head are discarded on the way.
func (q *Queue) OldestAge(p pubsubv1.Priority) (time.Duration, bool) {
	l := lane(p)
	if q.dropCancelledHead(l); q.lanes[l].empty() {
		return 0, false
	}
	return q.now.Sub(q.lanes[l].peek().at), true
}

// Bytes is the number of bytes currently charged.
func (q *Queue) Bytes() int { return q.bytes }

// Len is the number of live (not cancelled) items.
func (q *Queue) Len() int {
	n := 0
	for i := range q.lanes {
		for _, it := range q.lanes[i].items[q.lanes[i].head:] {
			if !it.cancelled {
				n++
			}
		}
	}
	return n
}

// Empty reports whether nothing is queued (a cancelled placeholder still
// counts: the next PopBatch discards it).
func (q *Queue) Empty() bool { return q.bytes == 0 }

// Has reports whether a live message with id is queued.
func (q *Queue) Has(id string) bool { _, ok := q.byID[id]; return ok }

// PushMessage queues a data message. A message whose id is already queued is
// not queued twice (dup=true). Drops lists what was evicted or refused.
func (q *Queue) PushMessage(p pubsubv1.Priority, id string, m *gossipsubv1.Message) (drops Drops, dup bool) {
	if id != "" {
		if _, ok := q.byID[id]; ok {
			return drops, true
		}
	}
	size := proto.Size(m)
	it := &item{cost: fieldCost(size) + ItemOverhead, id: id, msg: m}
	return q.push(lane(p), it), false
}

// PushSubscription queues a subscription change (control lane).
func (q *Queue) PushSubscription(s *gossipsubv1.SubOpts) Drops {
	return q.push(0, &item{cost: fieldCost(proto.Size(s)) + ItemOverhead, sub: s})
}

// PushControl queues a control fragment in the lane of p.
func (q *Queue) PushControl(p pubsubv1.Priority, c *gossipsubv1.ControlMessage) Drops {
	return q.pushControl(lane(p), c, proto.Size(c))
}

func (q *Queue) pushControl(l int, c *gossipsubv1.ControlMessage, size int) Drops {
	it := &item{cost: size + ItemOverhead, ctrl: c}
	for _, e := range c.GetIdontwant() {
		it.idw += len(e.GetMessageIDs())
	}
	return q.push(l, it)
}

// PushControlSplit queues a control fragment in the lane of p, split (at
// entry and id boundaries, wire.SplitRPC) into parts that each fit a frame
// of maxFrame bytes, so that no single item is larger than a frame the peer
// takes: 5,000 IHAVE ids of 32 bytes are 170 KB, above waku's 150 KiB and
// rust's 64 KiB frame limits, and a writer can only refuse such an item
// whole. A part that cannot be split (one id larger than a frame) is
// queued as it is and refused by the writer, counted.
func (q *Queue) PushControlSplit(p pubsubv1.Priority, c *gossipsubv1.ControlMessage, maxFrame int) Drops {
	size := proto.Size(c)
	if fieldCost(size)+8 <= maxFrame {
		return q.pushControl(lane(p), c, size)
	}
	parts, err := wire.SplitRPC(&gossipsubv1.RPC{Control: c}, maxFrame-8)
	if err != nil {
		return q.pushControl(lane(p), c, size)
	}
	var d Drops
	for _, part := range parts {
		d = add(d, q.PushControl(p, part.GetControl()))
	}
	return d
}

func (q *Queue) push(l int, it *item) Drops {
	var d Drops
	if it.cost > q.limit {
		d[l]++
		return d
	}
	for q.bytes+it.cost > q.limit {
		victim := -1
		for v := numLanes - 1; v >= l; v-- {
			if q.dropCancelledHead(v); !q.lanes[v].empty() {
				victim = v
				break
			}
		}
		if q.bytes+it.cost <= q.limit {
			break // the placeholders just dropped made room
		}
		if victim < 0 {
			d[l]++
			return d
		}
		q.remove(q.lanes[victim].pop())
		d[victim]++
	}
	it.at = q.now
	q.lanes[l].push(it)
	q.bytes += it.cost
	if it.id != "" {
		q.byID[it.id] = it
	}
	return d
}

// dropCancelledHead discards cancelled items at the head of lane v,
// releasing the ItemOverhead Cancel left charged.
func (q *Queue) dropCancelledHead(v int) {
	for !q.lanes[v].empty() && q.lanes[v].peek().cancelled {
		q.remove(q.lanes[v].pop())
	}
}

func (q *Queue) remove(it *item) {
	q.bytes -= it.cost
	if it.id != "" && q.byID[it.id] == it {
		delete(q.byID, it.id)
	}
}

// Cancel removes the queued message with id (the peer sent IDONTWANT for
// it, or a copy). It reports whether one was queued. The message and its
// bytes are released at once; the placeholder left in its lane stays
// charged ItemOverhead until it is popped, so that a stalled writer with a
// stream of push-then-cancel cannot grow the lanes past the byte limit.
func (q *Queue) Cancel(id string) bool {
	it, ok := q.byID[id]
	if !ok {
		return false
	}
	delete(q.byID, id)
	q.bytes -= it.cost - ItemOverhead
	it.cost, it.msg, it.cancelled = ItemOverhead, nil, true
	return true
}

// PopBatch moves queued items into rpc, highest priority first, while the
// encoded RPC stays within maxBytes; the first item is always taken so an
// item larger than maxBytes still leaves the queue (the writer then refuses
// it and counts it). It returns the number of items moved.
func (q *Queue) PopBatch(rpc *gossipsubv1.RPC, maxBytes int) int { return q.PopFrame(rpc, maxBytes, 0) }

// PopFrame is PopBatch with at most maxIDontWant IDONTWANT ids in the frame
// (0: no limit): go-libp2p-pubsub honours only the first
// MaxIDontWantLength (10) ids of an RPC and ignores the rest, so IDONTWANT
// beyond that waits for the next frame, which the session writes at once.
func (q *Queue) PopFrame(rpc *gossipsubv1.RPC, maxBytes, maxIDontWant int) int {
	used := proto.Size(rpc) + 8 // room for the control field's tag and length
	n, idw := 0, 0
	for l := range q.lanes {
		f := &q.lanes[l]
		for !f.empty() {
			it := f.peek()
			if it.cancelled {
				q.remove(f.pop())
				continue
			}
			size := it.cost - ItemOverhead
			if n > 0 && (used+size > maxBytes || (maxIDontWant > 0 && it.idw > 0 && idw+it.idw > maxIDontWant)) {
				return n
			}
			f.pop()
			q.remove(it)
			used += size
			idw += it.idw
			n++
			switch {
			case it.sub != nil:
				rpc.Subscriptions = append(rpc.Subscriptions, it.sub)
			case it.msg != nil:
				rpc.Publish = append(rpc.Publish, it.msg)
			case it.ctrl != nil:
				mergeControl(rpc, it.ctrl)
			}
		}
	}
	return n
}

// mergeControl appends c's entries to rpc's control message.
func mergeControl(rpc *gossipsubv1.RPC, c *gossipsubv1.ControlMessage) {
	if rpc.Control == nil {
		rpc.Control = &gossipsubv1.ControlMessage{}
	}
	dst := rpc.Control
	dst.Ihave = append(dst.Ihave, c.Ihave...)
	dst.Iwant = append(dst.Iwant, c.Iwant...)
	dst.Graft = append(dst.Graft, c.Graft...)
	dst.Prune = append(dst.Prune, c.Prune...)
	dst.Idontwant = append(dst.Idontwant, c.Idontwant...)
}

// fieldCost is the encoded size of a length-delimited field of size n with a
// one-byte tag.
func fieldCost(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }
