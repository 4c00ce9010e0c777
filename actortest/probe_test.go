package actortest_test

import (
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
)

// echo answers every StringValue with the same value upper-cased, after the
// delay carried by a Duration message it last received.
func echoProps() *actor.Props {
	var delay time.Duration
	return actorkit.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *durationpb.Duration:
				delay = m.AsDuration()
			case *wrapperspb.StringValue:
				if delay > 0 {
					time.Sleep(delay) // stands for slow work; virtual time in synctest
				}
				c.Respond(wrapperspb.String(strings.ToUpper(m.GetValue())))
			}
		})
	})
}

func TestRequestAndExpectMessage(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		p.Request(pid, wrapperspb.String("hi"))
		p.ExpectMessage(wrapperspb.String("HI"))
	})
}

func TestExpectNoMessageIsExactInVirtualTime(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		p.Send(pid, durationpb.New(time.Hour))
		start := time.Now()
		p.Request(pid, wrapperspb.String("late"))
		p.ExpectNoMessage(time.Hour - time.Nanosecond)
		got := actortest.ExpectWithin[*wrapperspb.StringValue](p, time.Second)
		if got.GetValue() != "LATE" || time.Since(start) != time.Hour {
			t.Fatalf("got %q after %s, want LATE after 1h", got.GetValue(), time.Since(start))
		}
	})
}

func TestFishSkipsUntilMatch(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		for _, s := range []string{"a", "b", "c"} {
			p.Request(pid, wrapperspb.String(s))
		}
		got := actortest.Fish(p, func(m *wrapperspb.StringValue) bool { return m.GetValue() == "C" })
		if got.GetValue() != "C" {
			t.Fatalf("fished %q", got.GetValue())
		}
		p.ExpectNoMessage(time.Second)
	})
}

func TestWatchAndExpectTerminated(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		p.Watch(pid)
		sys.Root.Stop(pid)
		p.ExpectTerminated(pid)
	})
}

func TestRespondAnswersLastSender(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		asker := actortest.NewProbe(t, sys)
		answerer := actortest.NewProbe(t, sys)
		asker.Request(answerer.PID(), wrapperspb.String("question"))
		answerer.ExpectMessage(wrapperspb.String("question"))
		answerer.Respond(wrapperspb.String("answer"))
		asker.ExpectMessage(wrapperspb.String("answer"))
	})
}

func TestTapRecordsSendsAndReceives(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		tap := actortest.NewTap()
		pid := sys.Root.Spawn(echoProps().Configure(tap.Options()...))
		p.Request(pid, wrapperspb.String("x"))
		p.ExpectMessage(wrapperspb.String("X"))
		in := actortest.ReceivedOf[*wrapperspb.StringValue](tap)
		out := actortest.SentOf[*wrapperspb.StringValue](tap)
		if len(in) != 1 || in[0].GetValue() != "x" || len(out) != 1 || out[0].GetValue() != "X" {
			t.Fatalf("tap recorded in=%v out=%v", in, out)
		}
	})
}

// recordingTB captures failures so the probe's own failure paths can be
// asserted without failing this test.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	logs   []string
	fatal  bool
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, sprintf(format, args...))
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.mu.Lock()
	r.fatal = true
	r.mu.Unlock()
	panic(fatalSentinel{})
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, sprintf("%v", args...))
}

func (r *recordingTB) logged() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

func (r *recordingTB) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

type fatalSentinel struct{}

func runFailing(fn func()) (fatal bool) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatalSentinel); !ok {
				panic(v)
			}
			fatal = true
		}
	}()
	fn()
	return false
}

func TestNonProtobufSendFailsTheTest(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		rec := &recordingTB{TB: t}
		sys := actortest.NewSystem(rec)
		p := actortest.NewProbe(t, sys)
		type plain struct{ s string }
		sender := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(*wrapperspb.StringValue); ok {
					c.Respond(&plain{s: "not protobuf"})
				}
			})
		}))
		p.Request(sender, wrapperspb.String("go"))
		actortest.Expect[*plain](p)
		if got := rec.all(); !strings.Contains(got, "non-protobuf message *actortest_test.plain") {
			t.Fatalf("violation not reported; errors: %q", got)
		}
	})
}

// TestFailuresSayWhatWasExpectedAndWhatArrived: every failing expectation
// names what it wanted and lists what the probe consumed, one row per helper.
func TestFailuresSayWhatWasExpectedAndWhatArrived(t *testing.T) {
	tests := []struct {
		name   string
		arrive []string // StringValues delivered to the probe first
		expect func(p *actortest.Probe)
		want   []string      // substrings of the failure
		waits  time.Duration // virtual time the failing call takes
	}{
		{
			name: "Expect of the wrong type", arrive: []string{"surprise"},
			expect: func(p *actortest.Probe) { actortest.Expect[*durationpb.Duration](p) },
			want:   []string{"expected *durationpb.Duration", "surprise", "arrived (latest 1"},
		},
		{
			name:   "ExpectMessage with nothing arriving",
			expect: func(p *actortest.Probe) { p.ExpectMessage(wrapperspb.String("never")) },
			want:   []string{"got nothing", "arrived: nothing"}, waits: actortest.DefaultTimeout,
		},
		{
			name: "ExpectMessage of another message shows a diff", arrive: []string{"got this"},
			expect: func(p *actortest.Probe) { p.ExpectMessage(wrapperspb.String("wanted that")) },
			want:   []string{"(-want +got)", `"wanted that"`, `"got this"`, "arrived (latest 1"},
		},
		{
			name: "Fish without a match lists what it skipped", arrive: []string{"first", "second"},
			expect: func(p *actortest.Probe) {
				actortest.FishWithin(p, time.Minute, func(m *wrapperspb.StringValue) bool { return m.GetValue() == "never" })
			},
			want: []string{"fished for *wrapperspb.StringValue", "first", "second", "arrived (latest 2"}, waits: time.Minute,
		},
		{
			name: "ExpectNoMessage names what arrived", arrive: []string{"unwelcome"},
			expect: func(p *actortest.Probe) { p.ExpectNoMessage(time.Second) },
			want:   []string{"expected no message for 1s", "unwelcome"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				sys := actortest.NewSystem(t)
				rec := &recordingTB{TB: t}
				p := actortest.NewProbe(rec, sys)
				other := actortest.NewProbe(t, sys)
				for _, s := range tt.arrive {
					other.Send(p.PID(), wrapperspb.String(s))
				}
				synctest.Wait()
				start := time.Now()
				if !runFailing(func() { tt.expect(p) }) {
					t.Fatal("the expectation did not fail")
				}
				if waited := time.Since(start); waited != tt.waits {
					t.Errorf("failed after %s, want %s", waited, tt.waits)
				}
				msg := rec.all()
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("failure %q lacks %q", msg, w)
					}
				}
			})
		})
	}
}

func TestProbeStoppedByTheTestIsNotStoppedAgain(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		watcher := actortest.NewProbe(t, sys)
		p := actortest.NewProbe(t, sys)
		watcher.Watch(p.PID())
		sys.Root.Stop(p.PID())
		watcher.ExpectTerminated(p.PID())
	})
}

func TestExpectTerminatedOfAnotherActorFails(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		rec := &recordingTB{TB: t}
		p := actortest.NewProbe(rec, sys)
		stopped, other := sys.Root.Spawn(echoProps()), sys.Root.Spawn(echoProps())
		p.Watch(stopped)
		sys.Root.Stop(stopped)
		if !runFailing(func() { p.ExpectTerminated(other) }) {
			t.Fatal("ExpectTerminated accepted the Terminated of another actor")
		}
		if msg := rec.all(); !strings.Contains(msg, "expected Terminated of "+other.String()) {
			t.Errorf("failure %q does not name the actor expected", msg)
		}
	})
}

func TestUnwatchStopsTheTerminated(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		p.Watch(pid)
		p.Unwatch(pid)
		sys.Root.Stop(pid)
		p.ExpectNoMessage(time.Minute)
	})
}

func TestWatchOfAStoppedActorTerminatesAtOnce(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		p.Watch(pid)
		p.ExpectTerminated(pid)
	})
}

func TestReceiveNKeepsArrivalOrder(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		for _, s := range []string{"a", "b", "c"} {
			p.Request(pid, wrapperspb.String(s))
		}
		var got []string
		for _, m := range actortest.ReceiveN[*wrapperspb.StringValue](p, 3, time.Second) {
			got = append(got, m.GetValue())
		}
		if strings.Join(got, "") != "ABC" {
			t.Fatalf("ReceiveN = %v, want A B C", got)
		}
	})
}

func TestNewSystemLogsIntoTheTest(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		rec := &recordingTB{TB: t}
		sys := actortest.NewSystem(rec)
		pid := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(*actor.Started); ok {
					c.Logger().Info("hello from an actor", "peer", "p1")
				}
			})
		}))
		synctest.Wait()
		if got := rec.logged(); !strings.Contains(got, "INFO hello from an actor") || !strings.Contains(got, "peer=p1") {
			t.Fatalf("test log %q lacks the actor's line", got)
		}
		sys.Root.Stop(pid)
	})
}

// TestDeadLetterAtTheEndOfABubbleIsHarmless: a message to a stopped actor as
// the last thing a test does must not leave protoactor's dead-letter
// throttle goroutine behind in the bubble (synctest would report a deadlock).
func TestDeadLetterAtTheEndOfABubbleIsHarmless(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(echoProps())
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		p.Send(pid, wrapperspb.String("to nobody"))
	})
}

// TestNonProtobufFromAnActorsOwnGoroutineFailsTheTest: the rule covers an
// actor's I/O goroutines reporting back to it through the root context.
func TestNonProtobufFromAnActorsOwnGoroutineFailsTheTest(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		rec := &recordingTB{TB: t}
		sys := actortest.NewSystem(rec)
		type result struct{ n int }
		worker := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(*actor.Started); ok {
					self, root := c.Self(), c.ActorSystem().Root
					go root.Send(self, &result{n: 1}) // an I/O goroutine done with its work
				}
			})
		}))
		synctest.Wait()
		want := worker.String() + " received non-protobuf message *actortest_test.result"
		if got := rec.all(); !strings.Contains(got, want) {
			t.Fatalf("violation not reported; errors: %q, want %q", got, want)
		}
	})
}

// TestTapIsBoundedAndCountsWhatItLeavesOut: beyond TapLimit records a
// direction stops growing, and Dropped says how many were left out.
func TestTapIsBoundedAndCountsWhatItLeavesOut(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		tap := actortest.NewTap()
		sink := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(actor.Context) {})
		}, tap.Options()...))
		const extra = 3
		for range actortest.TapLimit + extra {
			sys.Root.Send(sink, &durationpb.Duration{})
		}
		synctest.Wait()
		if got := len(tap.Received()); got != actortest.TapLimit {
			t.Fatalf("tap stored %d received messages, want the limit %d", got, actortest.TapLimit)
		}
		if got := tap.Dropped(); got != extra {
			t.Fatalf("Dropped() = %d, want %d", got, extra)
		}
	})
}
