package mesh

import (
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/actorkit"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// mailboxLoad is the policy of a topic actor's mailbox (an
// actorkit.InlineMailbox) and what the mailbox tells its actor.
//
// It bounds the mailbox for the traffic whose loss the protocol tolerates
// (ADR 0012, refining ADR 0005): received messages and IHAVE/IWANT from the
// sessions. Beyond MaxMailbox waiting messages the newest such message is
// dropped and counted by kind; a lost copy arrives from another mesh peer
// or through gossip. Everything else (membership, GRAFT/PRUNE, Ticks, API
// requests, validation answers, system messages) is always delivered:
// dropping it would break an invariant or hang a requester. The depth and
// the drops are shared with the actor itself (it is part of the actor, as a
// session's writer flag is), which exports them and forgives IWANT promises
// broken while it was dropping.
//
// The router's TopicTick to an idle topic runs in the router's goroutine and
// handles that Tick only (ADR 0026 and its amendment).
type mailboxLoad struct {
	max   int
	depth atomic.Int64 // user messages waiting
	high  atomic.Int64 // highest depth since the actor last read it
	// drops by kind: received messages, gossip control.
	droppedMessages, droppedGossip atomic.Uint64
}

func newMailboxLoad(max int) *mailboxLoad { return &mailboxLoad{max: max} }

// producer returns the mailbox producer for the actor's props.
func (l *mailboxLoad) producer() actor.MailboxProducer { return actorkit.NewInlineMailbox(l) }

// Inline: the router's heartbeat.
func (l *mailboxLoad) Inline(msg any) bool {
	_, tick := msg.(*pubsubv1.TopicTick)
	return tick
}

// Admit drops a droppable message beyond max waiting ones, counting it.
func (l *mailboxLoad) Admit(msg any, depth int) bool {
	if depth < l.max {
		return true
	}
	if c := l.droppable(msg); c != nil {
		c.Add(1)
		return false
	}
	return true
}

// Depth keeps the depth and its high-water mark.
func (l *mailboxLoad) Depth(d int) {
	l.depth.Store(int64(d))
	if int64(d) > l.high.Load() {
		l.high.Store(int64(d)) // under the mailbox's lock: an exact max
	}
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

// sample returns the highest depth since the last sample and the drops so
// far.
func (l *mailboxLoad) sample() (high int64, messages, gossip uint64) {
	high = l.high.Swap(l.depth.Load())
	return high, l.droppedMessages.Load(), l.droppedGossip.Load()
}
