package router

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/actors/router/session"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// panicky counts its starts and panics on RetireTopic.
type panicky struct{ starts *atomic.Int32 }

func (p panicky) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		p.starts.Add(1)
	case *pubsubv1.RetireTopic:
		panic("boom")
	}
}

// parentOf spawns one panicky child under the router's supervisor strategy
// and forwards the child's Terminated to a probe.
type parentOf struct {
	child *actor.Props
	to    *actor.PID
	pid   chan *actor.PID
}

func (p *parentOf) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		p.pid <- c.Spawn(p.child)
	case *actor.Terminated:
		c.Send(p.to, &pubsubv1.SessionClosed{Reason: "terminated " + m.GetWho().GetId()})
	}
}

// TestRouterStrategyStopsAFailedChild: the router's supervisor strategy
// (Props installs it) stops a panicking child instead of restarting it in
// place (issue 11 item 13); the router then sees its Terminated.
func TestRouterStrategyStopsAFailedChild(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		probe := actortest.NewProbe(t, sys)
		var starts atomic.Int32
		pids := make(chan *actor.PID, 1)
		parent := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return &parentOf{child: actorkit.Props(func() actor.Actor { return panicky{&starts} }), to: probe.PID(), pid: pids}
		}, actor.WithSupervisor(stopOnFailure(nil))))
		t.Cleanup(func() { _ = sys.Root.StopFuture(parent).Wait() })
		child := <-pids
		sys.Root.Send(child, &pubsubv1.RetireTopic{})
		closed := actortest.ExpectWithin[*pubsubv1.SessionClosed](probe, time.Second)
		if closed.GetReason() != "terminated "+child.GetId() || starts.Load() != 1 {
			t.Fatalf("%v; started %d times, want 1 (stopped, not restarted)", closed, starts.Load())
		}
	})
}

// TestNoPenaltyForOurFailures: issue 11 item 8. A stream reset because our
// session stalled or stopped costs the peer nothing; frames the peer built
// wrongly do.
func TestNoPenaltyForOurFailures(t *testing.T) {
	for reason, want := range map[string]bool{
		"stalled": false, "session_gone": false, "truncated": false, "": false,
		"malformed": true, "too_large": true, "limit": true,
	} {
		if got := session.PeerFault(reason); got != want {
			t.Errorf("session.PeerFault(%q) = %v, want %v", reason, got, want)
		}
	}
}
