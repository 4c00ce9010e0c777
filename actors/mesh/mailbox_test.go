package mesh

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// recordingDispatcher queues what it is asked to schedule instead of
// starting a goroutine.
type recordingDispatcher struct{ scheduled []func() }

func (d *recordingDispatcher) Schedule(fn func()) { d.scheduled = append(d.scheduled, fn) }
func (d *recordingDispatcher) Throughput() int    { return 300 }

type countInvoker struct{ user int }

func (i *countInvoker) InvokeSystemMessage(any)  {}
func (i *countInvoker) InvokeUserMessage(any)    { i.user++ }
func (i *countInvoker) EscalateFailure(any, any) {}

// TestTopicMailboxRunsIdleTickInline (ADR 0026): the router's TopicTick to
// an idle topic mailbox is handled in the poster's goroutine, before the
// post returns; a Tick to a mailbox with a backlog, and every other
// message, is scheduled on the props' dispatcher as before.
func TestTopicMailboxRunsIdleTickInline(t *testing.T) {
	load := newMailboxLoad(100)
	mb := load.producer()()
	inv, disp := &countInvoker{}, &recordingDispatcher{}
	mb.RegisterHandlers(inv, disp)
	mb.Start()

	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if inv.user != 1 || len(disp.scheduled) != 0 {
		t.Fatalf("idle Tick: %d handled inline, %d scheduled; want 1 and 0", inv.user, len(disp.scheduled))
	}
	mb.PostUserMessage(&pubsubv1.ReceivedMessages{})
	if inv.user != 1 || len(disp.scheduled) != 1 {
		t.Fatalf("received messages: %d handled inline, %d scheduled; want 1 and 1", inv.user, len(disp.scheduled))
	}
	// The mailbox is now running (scheduled, not yet run) with a backlog:
	// a Tick joins the queue and is not inlined later by someone else.
	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if load.inline.Load() {
		t.Fatal("inline flag left set after a Tick that scheduled nothing")
	}
	disp.scheduled[0]()
	if inv.user != 3 || load.depth.Load() != 0 {
		t.Fatalf("after the scheduled run: %d handled, depth %d; want 3 and 0", inv.user, load.depth.Load())
	}
	mb.PostUserMessage(&pubsubv1.ReceivedMessages{})
	if inv.user != 3 || len(disp.scheduled) != 2 {
		t.Fatalf("a later message was inlined: %d handled, %d scheduled", inv.user, len(disp.scheduled))
	}
}

var _ actor.Dispatcher = (*recordingDispatcher)(nil)
