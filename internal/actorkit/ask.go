package actorkit

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Why not protoactor's Future: its reply path writes the result without the
// future's lock (futureProcess.SendUserMessage) while its timeout path reads
// it under the lock (Stop → runCompletions, or Result after the wake-up).
// An answer that arrives as the timeout fires is a data race — seen under
// -race in TestDiscoveryOnLoopback at load average 16, a GetMesh answered just
// as the node actor's ask timed out. The fix belongs at our seam: every
// request peermesh makes goes through Request or Ask, whose reply process
// lets exactly one completion through (an atomic swap) and hands it on by a
// channel or the asking actor's mailbox, never by a shared field.

// replyProcess is the address an answer is sent to. The first message —
// the answer, a dead letter for a gone target, or the timeout — wins; any
// later one is dropped (protoactor's future drops them too).
type replyProcess struct {
	sys  *actor.ActorSystem
	pid  *actor.PID
	done atomic.Bool
	// timedOut is written before the timeout's message is handed on, so
	// whoever receives that message reads it set.
	timedOut atomic.Bool
	deliver  func(msg any)
}

func newReplyProcess(sys *actor.ActorSystem, deliver func(any)) *replyProcess {
	p := &replyProcess{sys: sys, deliver: deliver}
	p.pid, _ = sys.ProcessRegistry.Add(p, "ask$"+sys.ProcessRegistry.NextId())
	return p
}

func (p *replyProcess) SendUserMessage(_ *actor.PID, message any) {
	_, msg, _ := actor.UnwrapEnvelope(message)
	p.complete(msg, false)
}

// SendSystemMessage: nothing a request waits for comes as a system message.
func (p *replyProcess) SendSystemMessage(*actor.PID, any) {}

func (p *replyProcess) Stop(*actor.PID) { p.complete(nil, true) }

func (p *replyProcess) complete(msg any, timeout bool) {
	if !p.done.CompareAndSwap(false, true) {
		return
	}
	p.sys.ProcessRegistry.Remove(p.pid)
	if timeout {
		p.timedOut.Store(true)
		msg = &emptypb.Empty{}
	}
	p.deliver(msg)
}

// outcome turns what reached a reply process into protoactor's usual
// (answer, error): ErrTimeout and ErrDeadLetter keep their meaning for the
// callers that test them with errors.Is.
func (p *replyProcess) outcome(msg any) (any, error) {
	if p.timedOut.Load() {
		return nil, actor.ErrTimeout
	}
	if _, dead := msg.(*actor.DeadLetterResponse); dead {
		return nil, actor.ErrDeadLetter
	}
	return msg, nil
}

// Pending is the answer to a request sent from outside any actor (a
// goroutine of the embedding API, a stream handler).
type Pending struct {
	p      *replyProcess
	ch     chan any
	timer  *time.Timer
	waited atomic.Bool
	res    any
	err    error
	once   chan struct{}
}

// Request sends msg to pid through sc with a reply address of its own and
// returns the answer to come. The request gives up after timeout
// (actor.ErrTimeout); a target that is gone answers actor.ErrDeadLetter.
func Request(sc actor.SenderContext, pid *actor.PID, msg any, timeout time.Duration) *Pending {
	ch := make(chan any, 1)
	p := newReplyProcess(sc.ActorSystem(), func(m any) { ch <- m })
	r := &Pending{p: p, ch: ch, once: make(chan struct{})}
	r.timer = time.AfterFunc(timeout, func() { p.complete(nil, true) })
	sc.RequestWithCustomSender(pid, msg, p.pid)
	return r
}

// Result waits for the answer (once; later calls return the same).
func (r *Pending) Result() (any, error) { return r.Wait(context.Background()) }

// Wait is Result that also gives up when ctx ends (its error then).
func (r *Pending) Wait(ctx context.Context) (any, error) {
	if !r.waited.CompareAndSwap(false, true) {
		<-r.once
		return r.res, r.err
	}
	defer close(r.once)
	select {
	case m := <-r.ch:
		r.timer.Stop()
		r.res, r.err = r.p.outcome(m)
	case <-ctx.Done():
		r.p.complete(nil, true) // frees the address; a late answer is dropped
		r.timer.Stop()
		r.err = ctx.Err()
	}
	return r.res, r.err
}

// Ask sends req to to from inside c's actor; then runs in that actor's
// goroutine, with the context's message and sender those of the moment Ask
// was called (protoactor's ReenterAfter), with the answer, or with
// actor.ErrTimeout after timeout, or actor.ErrDeadLetter when to is gone —
// exactly once. The future ReenterAfter waits on has no timer of its own:
// its one completer is the reply process, so nothing races on its result.
func Ask(c actor.Context, to *actor.PID, req any, timeout time.Duration, then func(any, error)) {
	sys := c.ActorSystem()
	f := actor.NewFuture(sys, -1)
	p := newReplyProcess(sys, func(m any) { sys.Root.Send(f.PID(), m) })
	timer := time.AfterFunc(timeout, func() { p.complete(nil, true) })
	c.ReenterAfter(f, func(res any, err error) {
		timer.Stop()
		if err != nil {
			then(nil, err)
			return
		}
		then(p.outcome(res))
	})
	c.RequestWithCustomSender(to, req, p.pid)
}
