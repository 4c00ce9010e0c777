package mesh

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// topicMailbox bounds a topic actor's mailbox for the traffic whose loss
// the protocol tolerates (ADR 0012, refining ADR 0005): received messages
// and IHAVE/IWANT from the sessions. Beyond MaxMailbox waiting messages the
// newest such message is dropped and counted by kind; a lost copy arrives
// from another mesh peer or through gossip. Everything else (membership,
// GRAFT/PRUNE, Ticks, API requests, validation answers, system messages) is
// always delivered: dropping it would break an invariant or hang a
// requester. The depth and the drops are shared with the actor itself (it
// is part of the actor, as a session's writer flag is), which exports them
// and forgives IWANT promises broken while it was dropping.
//
// It is its own mailbox (not protoactor's default one wrapped) because it
// decides where an activation runs and how long (ADR 0026): the
// router's TopicTick to an idle topic runs in the router's goroutine and
// handles that Tick only; whatever arrived meanwhile is left to an
// activation on the props' dispatcher (a goroutine), so the router is never
// a busy topic's worker. Protoactor's semantics are kept: system messages
// first, user messages stopped while suspended, a panic escalated with the
// message that caused it, the dispatcher's throughput between yields.
type topicMailbox struct {
	load       *mailboxLoad
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher

	mu        sync.Mutex
	user, sys fifo
	running   bool // an activation is scheduled or running
	suspended bool
}

// mailboxLoad is what the mailbox tells its actor.
type mailboxLoad struct {
	max   int64
	depth atomic.Int64 // user messages waiting
	high  atomic.Int64 // highest depth since the actor last read it
	// drops by kind: received messages, gossip control.
	droppedMessages, droppedGossip atomic.Uint64
	// inlined counts activations run in the poster's goroutine, handed
	// those that left a rest to a goroutine activation (for tests).
	inlined, handed atomic.Uint64
}

func newMailboxLoad(max int) *mailboxLoad { return &mailboxLoad{max: int64(max)} }

// producer returns the mailbox producer for the actor's props.
func (l *mailboxLoad) producer() actor.MailboxProducer {
	return func() actor.Mailbox { return &topicMailbox{load: l} }
}

// droppable reports the drop counter of a message the mailbox may drop when
// full, or nil.
func (l *mailboxLoad) droppable(msg any) *atomic.Uint64 {
	switch m := actor.UnwrapEnvelopeMessage(msg).(type) {
	case *pubsubv1.ReceivedMessages:
		return &l.droppedMessages
	case *pubsubv1.ReceivedControl:
		if len(m.GetGraft()) == 0 && len(m.GetPrune()) == 0 {
			return &l.droppedGossip
		}
	}
	return nil
}

func (b *topicMailbox) PostUserMessage(msg any) {
	l := b.load
	_, tick := actor.UnwrapEnvelopeMessage(msg).(*pubsubv1.TopicTick)
	b.mu.Lock()
	if int64(b.user.len()) >= l.max {
		if c := l.droppable(msg); c != nil {
			b.mu.Unlock()
			c.Add(1)
			return
		}
	}
	b.user.push(msg)
	d := int64(b.user.len())
	l.depth.Store(d)
	start := !b.running
	b.running = true
	// Inline only the router's heartbeat to an idle topic: nothing else
	// waits, so this activation handles the Tick and nothing more.
	inline := start && tick && d == 1 && b.sys.len() == 0 && !b.suspended
	b.mu.Unlock()
	if d > l.high.Load() {
		l.high.Store(d) // racy max: an estimate for a gauge
	}
	switch {
	case inline:
		l.inlined.Add(1)
		b.process(1)
	case start:
		b.dispatcher.Schedule(b.processAll)
	}
}

func (b *topicMailbox) PostSystemMessage(msg any) {
	b.mu.Lock()
	b.sys.push(msg)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		b.dispatcher.Schedule(b.processAll)
	}
}

func (b *topicMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	b.invoker, b.dispatcher = invoker, dispatcher
}

func (b *topicMailbox) Start() {}

func (b *topicMailbox) UserMessageCount() int { return int(b.load.depth.Load()) }

func (b *topicMailbox) processAll() { b.process(-1) }

// process runs one activation: system messages first, then at most budget
// user messages (all when budget < 0) until the mailbox is empty. An
// activation that used its budget with messages left hands them to one on
// the dispatcher; the mailbox stays marked running in between, so no other
// poster starts a second one.
func (b *topicMailbox) process(budget int) {
	for !b.run(&budget) {
		// run returned after a panic (escalated): go on, as protoactor's
		// mailbox does; the supervisor's SuspendMailbox is queued.
	}
}

// run handles messages until the mailbox is idle or handed on (true) or a
// message panicked (false).
func (b *topicMailbox) run(budget *int) (done bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			b.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, b.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		b.mu.Lock()
		if msg = b.sys.pop(); msg != nil {
			b.mu.Unlock()
			switch msg.(type) {
			case *actor.SuspendMailbox:
				b.mu.Lock()
				b.suspended = true
				b.mu.Unlock()
			case *actor.ResumeMailbox:
				b.mu.Lock()
				b.suspended = false
				b.mu.Unlock()
			default:
				b.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if b.suspended || b.user.len() == 0 {
			b.running = false
			b.mu.Unlock()
			return true
		}
		if *budget == 0 {
			b.mu.Unlock()
			b.load.handed.Add(1)
			b.dispatcher.Schedule(b.processAll)
			return true
		}
		msg = b.user.pop()
		b.load.depth.Store(int64(b.user.len()))
		b.mu.Unlock()
		if *budget > 0 {
			*budget--
		}
		b.invoker.InvokeUserMessage(msg)
	}
}

// fifo is a queue of messages; its backing array is reused once drained.
type fifo struct {
	items []any
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(m any) { q.items = append(q.items, m) }

func (q *fifo) pop() any {
	if q.head == len(q.items) {
		return nil
	}
	m := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 256 && 2*q.head >= len(q.items):
		// A mailbox that never drains: drop the consumed half so the
		// array does not grow with everything ever queued.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return m
}

// sample returns the highest depth since the last sample and the drops so
// far.
func (l *mailboxLoad) sample() (high int64, messages, gossip uint64) {
	high = l.high.Swap(l.depth.Load())
	return high, l.droppedMessages.Load(), l.droppedGossip.Load()
}
