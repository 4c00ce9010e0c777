package actorkit

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
	"google.golang.org/protobuf/proto"
)

// Violation is one non-protobuf message seen crossing an actor boundary.
type Violation struct {
	// Sender is the sending actor (nil when it was sent from outside any
	// actor, through the root context).
	Sender *actor.PID
	// Target is the actor the message was sent to.
	Target  *actor.PID
	Message any
	// Received is set when the receiving actor caught it rather than the
	// sending one. A message from a goroutine or timer (through the root
	// context) reaches no sender middleware, so only the receiver sees it; a
	// message between two peermesh actors is reported by both.
	Received bool
}

// ViolationReporter receives every non-protobuf message a peermesh actor
// sends or receives. actortest registers one that fails the running test.
type ViolationReporter struct {
	Report func(Violation)
}

var violationExtensionID = extensions.NextExtensionID()

// ExtensionID implements extensions.Extension.
func (*ViolationReporter) ExtensionID() extensions.ExtensionID { return violationExtensionID }

// RegisterViolationReporter installs r on the system; later violations by
// actors of that system are passed to it.
func RegisterViolationReporter(sys *actor.ActorSystem, r *ViolationReporter) {
	sys.Extensions.Register(r)
}

// violations counts protobuf-only violations seen without a reporter, so a
// production node can expose them as a metric.
var violations atomic.Uint64

// Violations returns how many non-protobuf messages were observed without a
// registered reporter since the process started, counting once per side that
// saw it (see Violation.Received).
func Violations() uint64 { return violations.Load() }

// IsAllowed reports whether msg may cross an actor boundary: a protobuf
// message, or one of protoactor's own lifecycle and control messages.
func IsAllowed(msg any) bool {
	switch msg.(type) {
	case proto.Message:
		return true
	case actor.AutoReceiveMessage, actor.SystemMessage, *actor.ReceiveTimeout:
		return true
	}
	return false
}

// ProtoOnly is a sender middleware that reports any message that is not a
// protobuf message. The message is still delivered: failing a send in
// production would turn a programming error into a hang.
func ProtoOnly() actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			if !IsAllowed(env.Message) {
				reportViolation(ctx.ActorSystem(), Violation{Sender: ctx.Self(), Target: target, Message: env.Message})
			}
			next(ctx, target, env)
		}
	}
}

// ProtoOnlyReceiver is the receiving half of the check. Its reason to exist
// is the actor's own I/O goroutines and timers: they report back through the
// root context, which has no sender middleware, and DESIGN.md's rule holds
// for them too ("from its own I/O goroutine back to itself is still a
// message"). It also catches messages from actors not built with Props. The
// message is still delivered, as with ProtoOnly.
func ProtoOnlyReceiver() actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
			if !IsAllowed(env.Message) {
				reportViolation(ctx.ActorSystem(), Violation{Sender: env.Sender, Target: ctx.Self(), Message: env.Message, Received: true})
			}
			next(ctx, env)
		}
	}
}

func reportViolation(sys *actor.ActorSystem, v Violation) {
	if ext, ok := sys.Extensions.Get(violationExtensionID).(*ViolationReporter); ok && ext != nil && ext.Report != nil {
		ext.Report(v)
		return
	}
	violations.Add(1)
	side := "sent"
	if v.Received {
		side = "received"
	}
	sys.Logger().Error("non-protobuf message between actors", "seen", side,
		"sender", pidString(v.Sender), "target", pidString(v.Target), "type", fmt.Sprintf("%T", v.Message))
}

func pidString(p *actor.PID) string {
	if p == nil {
		return "<nil>"
	}
	return p.String()
}

// Props builds actor props with the peermesh defaults: the ProtoOnly sender
// and ProtoOnlyReceiver receiver middlewares first, then any options the
// caller adds.
func Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	all := append([]actor.PropsOption{
		actor.WithSenderMiddleware(ProtoOnly()),
		actor.WithReceiverMiddleware(ProtoOnlyReceiver()),
	}, opts...)
	return actor.PropsFromProducer(producer, all...)
}
