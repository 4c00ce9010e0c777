package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/internal/actorkit"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// incarnations numbers every start of a pool actor in the process. A dial
// goroutine reports with the number of the incarnation that started it, so a
// report that outlives a restart is ignored instead of being taken for a dial
// of the new incarnation (whose dial ids start again at 1).
var incarnations atomic.Uint64

// Props returns the props of a dial pool actor. The metrics are registered
// here, once, so a restart of the actor keeps its series.
//
// A Config that does not validate, or a nil Deps.Dialer, does not panic: the
// actor logs the error and answers every DialPeer REJECTED with it, so no
// requester waits forever. Call cfg.Validate first to fail early.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	m, metricsErr := newMetrics(deps.Registerer)
	misconfigured := cfg.Validate()
	if deps.Dialer == nil {
		misconfigured = errors.Join(misconfigured, errors.New("dialer deps: Dialer is nil"))
	}
	return actorkit.Props(func() actor.Actor {
		return &poolActor{cfg: cfg, dialer: deps.Dialer, metrics: m, log: deps.Logger,
			metricsErr: metricsErr, misconfigured: misconfigured}
	}, opts...)
}

// poolActor is the thin shell around Pool: it decodes messages, stamps
// them with the clock, calls the core and executes its effects.
type poolActor struct {
	cfg           Config
	dialer        Dialer
	metrics       *metrics
	log           *slog.Logger // nil until Started: then Deps.Logger or the system's
	metricsErr    error
	misconfigured error

	incarnation uint64
	pool        *Pool[*actor.PID]
	// cancels holds the context cancel of every dial goroutine that has not
	// reported yet, aborted ones included.
	cancels map[uint64]context.CancelFunc
	self    *actor.PID
	root    *actor.RootContext
	// stopped is set before the dials are cancelled at stop or restart, so
	// their goroutines do not report to a stopped actor (dead letters).
	// Shared only with this incarnation's own dial goroutines.
	stopped *atomic.Bool
}

// Receive implements actor.Actor.
func (a *poolActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.started(c)
	case *dialerv1.DialPeer:
		a.dialPeer(c, m)
	case *dialerv1.DialFinished:
		a.dialFinished(c, m)
	case *dialerv1.CancelDial:
		a.cancelDial(c, m)
	case *dialerv1.GetDialStatus:
		a.status(c)
	case *actor.Stopping:
		a.stopAll(c, "dial pool stopped")
	case *actor.Restarting:
		a.stopAll(c, "dial pool restarting")
	}
}

func (a *poolActor) started(c actor.Context) {
	a.incarnation = incarnations.Add(1)
	a.self, a.root = c.Self(), c.ActorSystem().Root
	a.stopped = new(atomic.Bool)
	if a.log == nil {
		a.log = c.Logger()
	}
	a.log = a.log.With("actor", "dialer", "pid", a.self.GetId())
	if a.metricsErr != nil {
		a.log.Warn("dialer metrics not registered", "err", a.metricsErr)
	}
	if a.misconfigured != nil {
		a.log.Error("dialer misconfigured; every dial will be rejected", "err", a.misconfigured)
		return
	}
	a.pool = NewPool[*actor.PID](a.cfg, a.dialer.Self())
	a.cancels = make(map[uint64]context.CancelFunc, a.cfg.MaxInFlight)
}

func (a *poolActor) dialPeer(c actor.Context, m *dialerv1.DialPeer) {
	now := time.Now() // stamps the request; durations in answers start here
	if a.pool == nil {
		a.rejectRaw(c, m, RejectMisconfigured, fmt.Sprintf("dial pool misconfigured: %v", a.misconfigured))
		return
	}
	req, err := ParseDialPeer(m, a.cfg)
	if err != nil {
		a.rejectRaw(c, m, RejectInvalid, err.Error())
		return
	}
	a.metrics.request(req.Source)
	connected := req.Protocol == "" && req.Peer != a.pool.self && a.isConnected(req.Peer)
	a.execute(c, a.pool.Enqueue(now, c.Sender(), req, connected))
}

// isConnected asks the Dialer, which runs on the actor's goroutine here. A
// panic there would restart the actor and lose the request being handled,
// so it is logged and the peer taken as not connected: the dial then finds
// out.
func (a *poolActor) isConnected(p peer.ID) (connected bool) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("Dialer.IsConnected panicked", "peer", p, "panic", r)
			connected = false
		}
	}()
	return a.dialer.IsConnected(p)
}

// rejectRaw answers a DialPeer the core never saw, echoing its raw fields.
func (a *poolActor) rejectRaw(c actor.Context, m *dialerv1.DialPeer, why RejectReason, reason string) {
	a.metrics.rejected(why)
	a.log.Debug("dial rejected", "reason", reason)
	if c.Sender() == nil {
		return
	}
	c.Send(c.Sender(), &dialerv1.DialCompleted{
		PeerId:   m.GetPeerId(),
		Outcome:  dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED,
		Reason:   reason,
		Duration: durationpb.New(0),
		Protocol: m.GetProtocol(),
	})
}

func (a *poolActor) dialFinished(c actor.Context, m *dialerv1.DialFinished) {
	if a.pool == nil || m.GetIncarnation() != a.incarnation {
		a.log.Debug("ignoring dial report of an earlier incarnation", "dial", m.GetDialId())
		return
	}
	if cancel, ok := a.cancels[m.GetDialId()]; ok {
		cancel()
		delete(a.cancels, m.GetDialId())
	}
	a.execute(c, a.pool.OnDialFinished(time.Now(), m.GetDialId(), m.GetOutcome(), m.GetReason()))
}

func (a *poolActor) cancelDial(c actor.Context, m *dialerv1.CancelDial) {
	if a.pool == nil {
		return
	}
	id, err := peer.IDFromBytes(m.GetPeerId())
	if err != nil {
		// CancelDial has no answer, so the metric and the log carry the error.
		a.metrics.rejectionsBy[RejectInvalidCancel].Inc()
		a.log.Warn("invalid CancelDial ignored", "err", fmt.Errorf("cancel dial: peer id: %w", err))
		return
	}
	a.execute(c, a.pool.Cancel(time.Now(), id))
}

func (a *poolActor) status(c actor.Context) {
	st := &dialerv1.DialStatus{MaxInFlight: uint32(a.cfg.MaxInFlight), MaxQueued: uint32(a.cfg.MaxQueued)}
	if a.pool != nil {
		st.InFlight, st.Queued = uint32(a.pool.InFlight()), uint32(a.pool.Queued())
	}
	if c.Sender() != nil {
		c.Respond(st)
	}
}

// stopAll answers every waiter CANCELLED and cancels every running dial.
// The stopped flag is set first, so the cancelled goroutines do not report
// to a stopped actor (dead letters); a report that still slips through
// reaches a new incarnation after a restart, which ignores it.
func (a *poolActor) stopAll(c actor.Context, reason string) {
	if a.pool == nil {
		return
	}
	a.stopped.Store(true)
	a.execute(c, a.pool.Stop(time.Now(), reason))
	for id, cancel := range a.cancels {
		cancel()
		delete(a.cancels, id)
	}
	// This incarnation no longer tracks anything; a new one starts from zero.
	a.metrics.gauges(0, 0)
}

// execute carries out eff in the order documented on Effects.
func (a *poolActor) execute(c actor.Context, eff Effects[*actor.PID]) {
	for _, id := range eff.Abort {
		if cancel, ok := a.cancels[id]; ok {
			cancel() // the entry stays until the goroutine reports
		}
	}
	for _, s := range eff.Start {
		a.launch(s)
	}
	for i := range eff.Answer {
		ans := &eff.Answer[i]
		if ans.Rejected != RejectNone {
			a.metrics.rejected(ans.Rejected)
			a.log.Debug("dial rejected", "peer", ans.Peer, "reason", ans.Reason)
		}
		if ans.To == nil {
			continue // sent with Send, not Request: nobody to answer
		}
		c.Send(ans.To, &dialerv1.DialCompleted{
			PeerId:   []byte(ans.Peer),
			Outcome:  ans.Outcome,
			Reason:   ans.Reason,
			Duration: durationpb.New(ans.Duration),
			Protocol: ans.Protocol,
		})
	}
	for _, e := range eff.Ended {
		a.metrics.ended(e)
	}
	a.metrics.gauges(a.pool.InFlight(), a.pool.Queued())
}

// launch runs one dial on its own goroutine. The goroutine touches neither
// the actor nor its context: it reports with a DialFinished message sent
// through the root context to the actor's PID.
func (a *poolActor) launch(s Start) {
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	a.cancels[s.ID] = cancel
	go runDial(ctx, cancel, a.dialer, s, reporter{a.root, a.self, a.incarnation, a.stopped}, a.log)
}

// reporter is what a dial goroutine needs to report back to its actor.
type reporter struct {
	root        *actor.RootContext
	self        *actor.PID
	incarnation uint64
	stopped     *atomic.Bool
}

func (r reporter) send(m *dialerv1.DialFinished) {
	if !r.stopped.Load() {
		r.root.Send(r.self, m)
	}
}

func runDial(ctx context.Context, cancel context.CancelFunc, d Dialer, s Start, to reporter, log *slog.Logger) {
	report := &dialerv1.DialFinished{DialId: s.ID, Incarnation: to.incarnation}
	defer func() {
		// A panicking Dialer must not take the node down, nor leave the
		// dial's requesters waiting: the dial is reported FAILED.
		if r := recover(); r != nil {
			log.Error("dialer panicked", "peer", s.Peer, "panic", r)
			report.Outcome = dialerv1.DialOutcome_DIAL_OUTCOME_FAILED
			report.Reason = fmt.Sprintf("dialer panicked: %v", r)
		}
		cancel()
		to.send(report)
	}()
	err := d.Dial(ctx, s.Peer, s.Addrs, s.Protocol)
	report.Outcome, report.Reason = Classify(err, ctx.Err())
	if err != nil {
		log.Debug("dial failed", "peer", s.Peer, "outcome", report.Outcome, "err", err)
	}
}
