package actortest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// NewSystem returns an actor system whose logs go to t and which is shut down
// when the test ends. Non-protobuf messages sent by peermesh actors fail t.
//
// It works inside a testing/synctest bubble, dead letters included: protoactor
// throttles its dead-letter log with a goroutine that waits one throttle
// interval after the first dead letter, and a bubble whose last goroutine is
// still waiting when the test ends panics with a deadlock (a test that
// watches an actor that already stopped, or replies to a stopped requester,
// would fail for nothing). The cleanup therefore waits, after shutting the
// system down, until the interval of the latest dead letter has passed:
// virtual time in a bubble, and no wait at all when there was none. In a
// bubble it first lets every goroutine settle (synctest.Wait), so a dead
// letter still on its way is counted rather than left with a running timer.
func NewSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	h := &testLogHandler{state: &testLogState{t: t}, level: slog.LevelInfo}
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(h) }),
	))
	actorkit.RegisterViolationReporter(sys, &actorkit.ViolationReporter{
		Report: func(v actorkit.Violation) {
			if v.Received {
				h.state.errorf("actortest: %s received non-protobuf message %T (sender %s); actors, and an actor's own goroutines, may send only protobuf messages",
					v.Target, v.Message, pidString(v.Sender))
				return
			}
			h.state.errorf("actortest: %s sent non-protobuf message %T to %s; actors may exchange only protobuf messages",
				v.Sender, v.Message, v.Target)
		},
	})
	var lastDeadLetter atomic.Int64 // UnixNano; 0: none yet
	sys.EventStream.Subscribe(func(msg any) {
		if _, ok := msg.(*actor.DeadLetterEvent); ok {
			lastDeadLetter.Store(time.Now().UnixNano())
		}
	})
	t.Cleanup(func() {
		sys.Shutdown()
		bubble := inBubble()
		// Bounded: an actor left running that keeps sending to a stopped one
		// makes a dead letter every interval, and must not hold the test.
		for range 4 {
			if bubble {
				// Let every goroutine the test started run until it blocks:
				// one that has yet to send to a stopped actor would start a
				// throttle timer after we looked, and time stops when the
				// bubble's main goroutine exits (a deadlock panic).
				synctest.Wait()
			}
			last := lastDeadLetter.Load()
			if last == 0 {
				break
			}
			// The throttle's timer fires one interval after it started; one
			// nanosecond more and its goroutine has been released.
			wait := time.Until(time.Unix(0, last).Add(sys.Config.DeadLetterThrottleInterval + time.Nanosecond))
			if wait <= 0 {
				break
			}
			<-time.After(wait)
		}
		h.state.close()
	})
	return sys
}

// testLogState is shared by every handler derived with WithAttrs/WithGroup so
// that they all stop writing to t at once when the test ends (writing to a
// finished test panics).
type testLogState struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (s *testLogState) log(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Log(line)
	}
}

func (s *testLogState) errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Errorf(format, args...)
	}
}

func (s *testLogState) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

type testLogHandler struct {
	state *testLogState
	level slog.Level
	attrs []slog.Attr
	group string
}

func (h *testLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *testLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	write := func(a slog.Attr) bool {
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, " %s=%v", key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	h.state.log(b.String())
	return nil
}

func (h *testLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

func (h *testLogHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}

// inBubble reports whether the caller runs inside a testing/synctest bubble:
// synctest.Wait panics outside one (there is no other way to ask), and
// inside one it returns once every other goroutine of the bubble is blocked,
// which is what the caller wants next anyway.
func inBubble() (in bool) {
	defer func() {
		if recover() != nil {
			in = false
		}
	}()
	synctest.Wait()
	return true
}
