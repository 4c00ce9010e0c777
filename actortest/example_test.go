package actortest_test

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
)

// greeter is the actor under test: it answers a name with a greeting.
func greeter() *actor.Props {
	return actorkit.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if name, ok := c.Message().(*wrapperspb.StringValue); ok {
				c.Respond(wrapperspb.String("hello " + name.GetValue()))
			}
		})
	})
}

// A test of an actor with the probe. Inside a synctest bubble the one-minute
// ExpectNoMessage takes no wall time. (Write this as a Test function in your
// own _test.go file; examples cannot receive a *testing.T.)
func Example() {
	_ = func(t *testing.T) {
		bubble.Test(t, func(t *testing.T) {
			sys := actortest.NewSystem(t)
			probe := actortest.NewProbe(t, sys)
			pid := sys.Root.Spawn(greeter())

			probe.Request(pid, wrapperspb.String("peermesh"))
			probe.ExpectMessage(wrapperspb.String("hello peermesh"))

			probe.ExpectNoMessage(time.Minute)
			probe.Watch(pid)
			sys.Root.Stop(pid)
			probe.ExpectTerminated(pid)
		})
	}
}
