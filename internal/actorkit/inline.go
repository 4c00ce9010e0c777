package actorkit

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// InlinePolicy tells an [InlineMailbox] which messages it may drop and
// which it may run in the poster's goroutine.
type InlinePolicy interface {
	// Inline reports whether msg, posted to an idle mailbox, is handled in
	// the poster's goroutine (a heartbeat from the router: ADR 0026, 0029).
	Inline(msg any) bool
	// Admit reports whether msg is queued behind depth waiting messages;
	// false drops it (the policy counts it).
	Admit(msg any, depth int) bool
	// Depth is told the number of user messages waiting after each post
	// and each take, under the mailbox's lock (so in order).
	Depth(depth int)
}

// InlineMailbox is an unbounded mailbox that may run an activation in the
// poster's goroutine. With hundreds of idle actors per node, starting a
// goroutine per actor per heartbeat, growing its stack and scheduling it
// was about half of a node's idle CPU (M2 profiles, ADR 0026); inline, the
// router's goroutine runs the heartbeats of every idle topic and session.
//
// Only a message the policy names, posted to an empty, unsuspended mailbox
// with no system message waiting, starts an inline activation (decided
// under the lock, so a racing post cannot be the one inlined), and that
// activation handles system messages and that one message: whatever
// arrived meanwhile is handed to one activation on the props' dispatcher (a
// goroutine), the mailbox staying marked running in between. So the
// router's goroutine is never a busy actor's worker. Protoactor's semantics
// are kept: system messages first, user messages stopped while suspended,
// a panic escalated with the message that caused it, a yield every
// Throughput messages.
type InlineMailbox struct {
	policy     InlinePolicy
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher

	mu        sync.Mutex
	user, sys fifo
	running   bool // an activation is scheduled or running
	suspended bool
}

// NewInlineMailbox returns a producer of inline mailboxes under policy.
func NewInlineMailbox(policy InlinePolicy) actor.MailboxProducer {
	return func() actor.Mailbox { return &InlineMailbox{policy: policy} }
}

// PostUserMessage queues msg (unless the policy drops it) and starts an
// activation if none is running: inline for the policy's message to an
// idle mailbox, on the dispatcher otherwise.
func (b *InlineMailbox) PostUserMessage(msg any) {
	b.mu.Lock()
	if !b.policy.Admit(msg, b.user.len()) {
		b.mu.Unlock()
		return
	}
	b.user.push(msg)
	d := b.user.len()
	b.policy.Depth(d)
	start := !b.running
	b.running = true
	inline := start && d == 1 && b.sys.len() == 0 && !b.suspended
	b.mu.Unlock()
	switch {
	case inline && b.policy.Inline(actor.UnwrapEnvelopeMessage(msg)):
		b.process(1)
	case start:
		b.dispatcher.Schedule(b.processAll)
	}
}

// PostSystemMessage queues msg and starts an activation on the dispatcher
// if none is running.
func (b *InlineMailbox) PostSystemMessage(msg any) {
	b.mu.Lock()
	b.sys.push(msg)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		b.dispatcher.Schedule(b.processAll)
	}
}

// RegisterHandlers is called by protoactor when the actor is spawned.
func (b *InlineMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	b.invoker, b.dispatcher = invoker, dispatcher
}

// Start is called by protoactor once the handlers are registered.
func (b *InlineMailbox) Start() {}

// UserMessageCount returns the user messages waiting.
func (b *InlineMailbox) UserMessageCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.user.len()
}

func (b *InlineMailbox) processAll() { b.process(-1) }

// process runs one activation: system messages first, then at most budget
// user messages (all when budget < 0) until the mailbox is empty. An
// activation that used its budget with messages left hands them to one on
// the dispatcher.
func (b *InlineMailbox) process(budget int) {
	for !b.run(&budget) {
		// A message panicked (escalated): go on, as protoactor's mailbox
		// does; the supervisor's SuspendMailbox is queued.
	}
}

// run handles messages until the mailbox is idle or handed on (true) or a
// message panicked (false).
func (b *InlineMailbox) run(budget *int) (done bool) {
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
			switch msg.(type) {
			case *actor.SuspendMailbox:
				b.suspended = true
				b.mu.Unlock()
			case *actor.ResumeMailbox:
				b.suspended = false
				b.mu.Unlock()
			default:
				b.mu.Unlock()
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
			b.dispatcher.Schedule(b.processAll)
			return true
		}
		msg = b.user.pop()
		b.policy.Depth(b.user.len())
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
