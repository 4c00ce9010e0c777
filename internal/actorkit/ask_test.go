package actorkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
)

// slowResponder answers Int64Value{ms} with the same value ms milliseconds
// later, from a timer (as an actor's I/O goroutine would).
func slowResponder(sys *actor.ActorSystem) *actor.PID {
	return sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if v, ok := c.Message().(*wrapperspb.Int64Value); ok {
			to := c.Sender()
			time.AfterFunc(time.Duration(v.GetValue())*time.Millisecond, func() { sys.Root.Send(to, v) })
		}
	}))
}

func processes(sys *actor.ActorSystem) int {
	n := 0
	for _, b := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += b.Count()
	}
	return n
}

// askOutcome is what one continuation saw.
type askOutcome struct {
	delay int64
	calls int
	err   error
	ans   int64
	// sender is the context's sender inside the continuation: the requester
	// of the message being handled when Ask was called.
	sender *actor.PID
}

// TestAskAnswerAtTheTimeout asks with answers due just before, at and just
// after the timeout: each continuation runs once, with the answer or
// actor.ErrTimeout, in the asking actor with the original message's sender,
// and no reply address is left registered. Under -race this is the case that
// protoactor's own RequestFuture gets wrong (its answer path writes the
// result unlocked while the timeout reads it).
func TestAskAnswerAtTheTimeout(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actor.NewActorSystem()
		responder := slowResponder(sys)
		const rounds, timeout = 60, 10 // asks, ms
		outcomes := make([]askOutcome, rounds)
		asker := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*wrapperspb.StringValue); !ok {
				return
			}
			left := rounds
			for i := range rounds {
				d := int64(timeout - 1 + i%3) // 9, 10, 11 ms
				outcomes[i].delay = d
				actorkit.Ask(c, responder, wrapperspb.Int64(d), timeout*time.Millisecond, func(res any, err error) {
					o := &outcomes[i]
					o.calls++
					o.err, o.sender = err, c.Sender()
					if v, ok := res.(*wrapperspb.Int64Value); ok {
						o.ans = v.GetValue()
					}
					if left--; left == 0 {
						c.Respond(wrapperspb.String("done"))
					}
				})
			}
		}))
		before := processes(sys)
		caller := actorkit.Request(sys.Root, asker, wrapperspb.String("go"), time.Second)
		res, err := caller.Result()
		if err != nil || res.(*wrapperspb.StringValue).GetValue() != "done" {
			t.Fatalf("the original requester got %v, %v", res, err)
		}
		time.Sleep(time.Second) // virtual: late answers arrive and are dropped
		for i, o := range outcomes {
			switch {
			case o.calls != 1:
				t.Errorf("ask %d: continuation ran %d times", i, o.calls)
			case o.sender == nil || o.sender.Id == asker.Id:
				t.Errorf("ask %d: continuation's sender %v, want the original requester", i, o.sender)
			case o.delay < timeout && (o.err != nil || o.ans != o.delay):
				t.Errorf("ask %d (answer after %d ms): %v, %d", i, o.delay, o.err, o.ans)
			case o.delay > timeout && !errors.Is(o.err, actor.ErrTimeout):
				t.Errorf("ask %d (answer after %d ms): %v, want a timeout", i, o.delay, o.err)
			case o.delay == timeout && o.err == nil && o.ans != o.delay:
				t.Errorf("ask %d: answer %d", i, o.ans)
			}
		}
		// Every reply address went, the caller's own too.
		if after := processes(sys); after != before {
			t.Errorf("%d processes registered after the asks, %d before", after, before)
		}
	})
}

func TestAskGoneTargetAnswersDeadLetter(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actor.NewActorSystem()
		gone := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		if err := sys.Root.StopFuture(gone).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := actorkit.Request(sys.Root, gone, wrapperspb.String("x"), time.Second).Result(); !errors.Is(err, actor.ErrDeadLetter) {
			t.Errorf("Request to a stopped actor: %v, want ErrDeadLetter", err)
		}
		got := make(chan error, 1)
		asker := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*actor.Started); ok {
				actorkit.Ask(c, gone, wrapperspb.String("x"), time.Second, func(_ any, err error) { got <- err })
			}
		}))
		defer sys.Root.Stop(asker)
		if err := <-got; !errors.Is(err, actor.ErrDeadLetter) {
			t.Errorf("Ask of a stopped actor: %v, want ErrDeadLetter", err)
		}
		// Virtual time: protoactor's dead-letter throttle ends its round.
		time.Sleep(2 * time.Second)
	})
}

// TestRequestAnswerAtTheTimeout is the outside-any-actor half: goroutines
// waiting on answers due at their timeout each get the answer or
// ErrTimeout, and Wait with an ended context returns its error.
func TestRequestAnswerAtTheTimeout(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actor.NewActorSystem()
		responder := slowResponder(sys)
		before := processes(sys)
		done := make(chan error, 30)
		for i := range 30 {
			d := int64(9 + i%3)
			go func() {
				p := actorkit.Request(sys.Root, responder, wrapperspb.Int64(d), 10*time.Millisecond)
				res, err := p.Result()
				again, err2 := p.Result() // a second call returns the same
				switch {
				case err != err2 || res != again:
					done <- errors.New("second Result differs")
				case d < 10 && err != nil, d > 10 && !errors.Is(err, actor.ErrTimeout):
					done <- err
				default:
					done <- nil
				}
			}()
		}
		for range 30 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := actorkit.Request(sys.Root, responder, wrapperspb.Int64(5), time.Second).Wait(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with a cancelled context: %v", err)
		}
		time.Sleep(time.Second)
		if after := processes(sys); after != before {
			t.Errorf("%d processes registered after the requests, %d before", after, before)
		}
	})
}
