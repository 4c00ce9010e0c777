package actortest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// DefaultTimeout bounds every Expect and Fish that is not given a duration.
// Inside a synctest bubble it is virtual time.
const DefaultTimeout = 3 * time.Second

// Capacity is how many unread messages a probe holds. A probe that overflows
// fails its test instead of blocking the actor that sends to it.
const Capacity = 1 << 16

// historyLimit bounds how many consumed messages a failure message lists.
const historyLimit = 32

// Received is one message delivered to a probe, with its sender (nil for a
// plain Send).
type Received struct {
	Message any
	Sender  *actor.PID
}

func (r Received) String() string {
	return fmt.Sprintf("%T%s (from %s)", r.Message, short(r.Message), pidString(r.Sender))
}

// Probe is an actor driven by a test: it sends on the test's behalf and
// collects what arrives so the test can assert on it.
type Probe struct {
	t          testing.TB
	sys        *actor.ActorSystem
	pid        *actor.PID
	inbox      chan Received
	lastSender *actor.PID
	history    []Received
}

// NewProbe spawns a probe in sys; it is stopped when the test ends.
func NewProbe(t testing.TB, sys *actor.ActorSystem) *Probe {
	t.Helper()
	p := &Probe{t: t, sys: sys, inbox: make(chan Received, Capacity)}
	props := actorkit.Props(func() actor.Actor { return p })
	p.pid = sys.Root.Spawn(props)
	t.Cleanup(func() {
		// A test may have stopped the probe itself; stopping it again would
		// only add a dead letter to the test log.
		if _, alive := sys.ProcessRegistry.Get(p.pid); alive {
			sys.Root.Stop(p.pid)
		}
	})
	return p
}

// Receive implements actor.Actor; it runs on the probe's mailbox goroutine.
func (p *Probe) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	}
	select {
	case p.inbox <- Received{Message: c.Message(), Sender: c.Sender()}:
	default:
		p.t.Errorf("actortest: probe %s overflowed its %d-message buffer; dropped %T", p.pid, Capacity, c.Message())
	}
}

// PID is the probe's address, to hand to actors under test as a target.
func (p *Probe) PID() *actor.PID { return p.pid }

// System is the actor system the probe lives in.
func (p *Probe) System() *actor.ActorSystem { return p.sys }

// Send delivers msg to target with no sender.
func (p *Probe) Send(target *actor.PID, msg proto.Message) {
	p.sys.Root.Send(target, msg)
}

// Request delivers msg to target with the probe as sender, so replies come to
// the probe.
func (p *Probe) Request(target *actor.PID, msg proto.Message) {
	p.sys.Root.RequestWithCustomSender(target, msg, p.pid)
}

// Respond answers the sender of the last message the probe consumed.
func (p *Probe) Respond(msg proto.Message) {
	p.t.Helper()
	if p.lastSender == nil {
		p.t.Fatalf("actortest: Respond(%T): the last message had no sender", msg)
	}
	p.sys.Root.RequestWithCustomSender(p.lastSender, msg, p.pid)
}

// Sender is the sender of the last message the probe consumed.
func (p *Probe) Sender() *actor.PID { return p.lastSender }

// Watch makes the probe receive *actor.Terminated when pid stops.
func (p *Probe) Watch(pid *actor.PID) {
	p.systemMessage(pid, &actor.Watch{Watcher: p.pid})
}

// Unwatch undoes Watch.
func (p *Probe) Unwatch(pid *actor.PID) {
	p.systemMessage(pid, &actor.Unwatch{Watcher: p.pid})
}

// systemMessage delivers a protoactor system message; the registry answers
// for a dead pid with its dead-letter process, which replies Terminated to a
// Watch, so watching an actor that already stopped still terminates.
func (p *Probe) systemMessage(pid *actor.PID, msg any) {
	proc, _ := p.sys.ProcessRegistry.Get(pid)
	proc.SendSystemMessage(pid, msg)
}

// Next returns the next message within d, or ok=false on timeout. It is the
// building block of the Expect helpers, for tests that need a custom check.
func (p *Probe) Next(d time.Duration) (Received, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case r := <-p.inbox:
		p.consume(r)
		return r, true
	case <-timer.C:
		return Received{}, false
	}
}

func (p *Probe) consume(r Received) {
	p.lastSender = r.Sender
	p.history = append(p.history, r)
	if len(p.history) > historyLimit {
		p.history = p.history[len(p.history)-historyLimit:]
	}
}

// ExpectNoMessage asserts that nothing arrives for d. In a synctest bubble
// this is exact: every actor has finished its work before virtual time moves.
func (p *Probe) ExpectNoMessage(d time.Duration) {
	p.t.Helper()
	if r, ok := p.Next(d); ok {
		p.t.Fatalf("actortest: expected no message for %s, got %s\n%s", d, r, p.arrived())
	}
}

// ExpectMessage asserts that the next message equals want (proto.Equal) and
// prints a diff when it does not.
func (p *Probe) ExpectMessage(want proto.Message) {
	p.t.Helper()
	p.ExpectMessageWithin(DefaultTimeout, want)
}

// ExpectMessageWithin is ExpectMessage with an explicit timeout.
func (p *Probe) ExpectMessageWithin(d time.Duration, want proto.Message) {
	p.t.Helper()
	r, ok := p.Next(d)
	if !ok {
		p.t.Fatalf("actortest: expected %T%s within %s, got nothing\n%s", want, short(want), d, p.arrived())
	}
	got, isProto := r.Message.(proto.Message)
	if !isProto || !proto.Equal(got, want) {
		p.t.Fatalf("actortest: unexpected message (-want +got):\n%s\n%s",
			cmp.Diff(want, r.Message, protocmp.Transform()), p.arrived())
	}
}

// ExpectTerminated asserts that the next message is the Terminated of pid
// (after Watch).
func (p *Probe) ExpectTerminated(pid *actor.PID) {
	p.t.Helper()
	term := Expect[*actor.Terminated](p)
	if !samePID(term.GetWho(), pid) {
		p.t.Fatalf("actortest: expected Terminated of %s, got Terminated of %s\n%s", pid, term.GetWho(), p.arrived())
	}
}

// Expect asserts that the next message, within DefaultTimeout, is a T and
// returns it.
func Expect[T any](p *Probe) T {
	p.t.Helper()
	return ExpectWithin[T](p, DefaultTimeout)
}

// ExpectWithin is Expect with an explicit timeout.
func ExpectWithin[T any](p *Probe, d time.Duration) T {
	p.t.Helper()
	r, ok := p.Next(d)
	if !ok {
		var zero T
		p.t.Fatalf("actortest: expected %T within %s, got nothing\n%s", zero, d, p.arrived())
		return zero
	}
	v, ok := r.Message.(T)
	if !ok {
		var zero T
		p.t.Fatalf("actortest: expected %T, got %s\n%s", zero, r, p.arrived())
		return zero
	}
	return v
}

// Fish skips messages until one is a T for which pred holds, within
// DefaultTimeout in total, and returns it. Skipped messages are listed if it
// fails.
func Fish[T any](p *Probe, pred func(T) bool) T {
	p.t.Helper()
	return FishWithin(p, DefaultTimeout, pred)
}

// FishWithin is Fish with an explicit timeout.
func FishWithin[T any](p *Probe, d time.Duration, pred func(T) bool) T {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		r, ok := Received{}, false
		if left > 0 {
			r, ok = p.Next(left)
		}
		if !ok {
			var zero T
			p.t.Fatalf("actortest: fished for %T matching the predicate for %s, none came\n%s", zero, d, p.arrived())
			return zero
		}
		if v, isT := r.Message.(T); isT && (pred == nil || pred(v)) {
			return v
		}
	}
}

// ReceiveN collects exactly n messages of type T within d in total, failing
// on any other type.
func ReceiveN[T any](p *Probe, n int, d time.Duration) []T {
	p.t.Helper()
	deadline := time.Now().Add(d)
	out := make([]T, 0, n)
	for len(out) < n {
		v := ExpectWithin[T](p, max(time.Until(deadline), 0))
		out = append(out, v)
	}
	return out
}

// arrived lists the latest messages the probe consumed, for failure output.
func (p *Probe) arrived() string {
	if len(p.history) == 0 {
		return "arrived: nothing"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "arrived (latest %d, oldest first):", len(p.history))
	for i, r := range p.history {
		fmt.Fprintf(&b, "\n  %d. %s", i+1, r)
	}
	return b.String()
}

func samePID(a, b *actor.PID) bool {
	return a != nil && b != nil && a.GetId() == b.GetId() && a.GetAddress() == b.GetAddress()
}

func pidString(p *actor.PID) string {
	if p == nil {
		return "<nil>"
	}
	return p.String()
}

// short renders a message compactly for failure output.
func short(m any) string {
	pm, ok := m.(proto.Message)
	if !ok {
		return ""
	}
	s := fmt.Sprint(pm)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "{" + s + "}"
}
