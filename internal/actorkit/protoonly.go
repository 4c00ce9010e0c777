package actorkit

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
	"google.golang.org/protobuf/proto"
)

// ViolationReporter receives every non-protobuf message an actor tries to
// send. actortest registers one that fails the running test.
type ViolationReporter struct {
	Report func(sender, target *actor.PID, msg any)
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

// Violations returns how many non-protobuf sends were observed without a
// registered reporter since the process started.
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
				reportViolation(ctx, target, env.Message)
			}
			next(ctx, target, env)
		}
	}
}

func reportViolation(ctx actor.SenderContext, target *actor.PID, msg any) {
	sys := ctx.ActorSystem()
	if ext, ok := sys.Extensions.Get(violationExtensionID).(*ViolationReporter); ok && ext != nil && ext.Report != nil {
		ext.Report(ctx.Self(), target, msg)
		return
	}
	violations.Add(1)
	sys.Logger().Error("non-protobuf message sent between actors",
		"sender", pidString(ctx.Self()), "target", pidString(target), "type", fmt.Sprintf("%T", msg))
}

func pidString(p *actor.PID) string {
	if p == nil {
		return "<nil>"
	}
	return p.String()
}

// Props builds actor props with the peermesh defaults: the ProtoOnly sender
// middleware first, then any options the caller adds.
func Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	all := append([]actor.PropsOption{actor.WithSenderMiddleware(ProtoOnly())}, opts...)
	return actor.PropsFromProducer(producer, all...)
}
