package mesh

import (
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
type topicMailbox struct {
	actor.Mailbox
	load *mailboxLoad
}

// mailboxLoad is what the mailbox tells its actor.
type mailboxLoad struct {
	max   int64
	depth atomic.Int64
	high  atomic.Int64 // highest depth since the actor last read it
	// drops by kind: received messages, gossip control.
	droppedMessages, droppedGossip atomic.Uint64
	// inline: the next activation runs in the poster's goroutine
	// (tickDispatcher).
	inline atomic.Bool
}

func newMailboxLoad(max int) *mailboxLoad { return &mailboxLoad{max: int64(max)} }

// producer returns the mailbox producer for the actor's props.
func (l *mailboxLoad) producer() actor.MailboxProducer {
	unbounded := actor.Unbounded()
	return func() actor.Mailbox { return &topicMailbox{Mailbox: unbounded(), load: l} }
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
	if _, tick := actor.UnwrapEnvelopeMessage(msg).(*pubsubv1.TopicTick); tick && l.depth.Load() == 0 {
		// The router's heartbeat to an idle topic actor: run it here, in
		// the router's goroutine, instead of starting a goroutine for it
		// (ADR 0026). Cleared after the post: if the mailbox was already
		// running, nothing was scheduled and the next post is not inlined.
		l.inline.Store(true)
		defer l.inline.Store(false)
	}
	if d := l.depth.Load(); d >= l.max {
		if c := l.droppable(msg); c != nil {
			c.Add(1)
			return
		}
	}
	if d := l.depth.Add(1); d > l.high.Load() {
		l.high.Store(d) // racy max: an estimate for a gauge
	}
	b.Mailbox.PostUserMessage(msg)
}

func (b *topicMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	b.Mailbox.RegisterHandlers(countingInvoker{invoker, b.load}, tickDispatcher{dispatcher, b.load})
}

// tickDispatcher runs the activation a TopicTick scheduled in the poster's
// goroutine (the router's) and every other activation as the props'
// dispatcher does (a goroutine each). With hundreds of idle topic actors
// per node, starting a goroutine per actor per heartbeat, growing its stack
// and scheduling it was about half of the process's idle CPU (M2 profile,
// ADR 0026); inline, one goroutine runs every idle topic's heartbeat. Only
// an idle mailbox is inlined (depth 0 before the Tick), so the router does
// not become the worker of a topic that has a backlog; the activation ends
// when the mailbox is empty, as any does. A session's post that races with
// the router's between the two may be the one inlined: it then runs that
// short activation in its own goroutine, which is as correct (the actor
// runs on one goroutine at a time either way).
type tickDispatcher struct {
	actor.Dispatcher
	load *mailboxLoad
}

func (d tickDispatcher) Schedule(fn func()) {
	if d.load.inline.CompareAndSwap(true, false) {
		fn()
		return
	}
	d.Dispatcher.Schedule(fn)
}

// countingInvoker counts the user messages taken out of the mailbox.
type countingInvoker struct {
	actor.MessageInvoker
	load *mailboxLoad
}

func (i countingInvoker) InvokeUserMessage(msg any) {
	i.load.depth.Add(-1)
	i.MessageInvoker.InvokeUserMessage(msg)
}

// sample returns the highest depth since the last sample and the drops so
// far.
func (l *mailboxLoad) sample() (high int64, messages, gossip uint64) {
	high = l.high.Swap(l.depth.Load())
	return high, l.droppedMessages.Load(), l.droppedGossip.Load()
}
