package actortest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// NewSystem returns an actor system whose logs go to t and which is shut down
// when the test ends. Non-protobuf messages sent by peermesh actors fail t.
func NewSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	h := &testLogHandler{state: &testLogState{t: t}, level: slog.LevelInfo}
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(h) }),
	))
	actorkit.RegisterViolationReporter(sys, &actorkit.ViolationReporter{
		Report: func(sender, target *actor.PID, msg any) {
			h.state.errorf("actortest: %s sent non-protobuf message %T to %s; actors may exchange only protobuf messages",
				sender, msg, target)
		},
	})
	t.Cleanup(func() {
		sys.Shutdown()
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
