package heartbeat

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/internal/actorkit"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
)

// Props returns the props of a heartbeat actor. An invalid cfg does not
// panic: the actor logs the error and stops itself when started, so its
// parent sees it terminate. Call cfg.Validate first to fail earlier. Metrics
// that cannot be registered (a name clash on Deps.Registerer) are logged and
// the actor runs without exporting them: every other actor depends on the
// clock, and a metric is not worth stopping it for.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	if deps.Clock == nil {
		deps.Clock = SystemClock{}
	}
	// Metrics are created once per Props, not per incarnation, so that a
	// restart does not register them twice.
	m, metricsErr := newMetrics(deps.Registerer)
	cfgErr := cfg.Validate()
	return actorkit.Props(func() actor.Actor {
		return &heartbeat{cfg: cfg, deps: deps, metrics: m, startErr: cfgErr, metricsErr: metricsErr}
	}, opts...)
}

// heartbeat is the thin adapter around Schedule. It is the only place in
// peermesh that reads the clock for policy: every Tick carries its reading.
type heartbeat struct {
	cfg      Config
	deps     Deps
	metrics  *metrics
	startErr error // an invalid Config: the actor stops at start
	// metricsErr is logged at start; the actor runs without those metrics.
	metricsErr error
	log        *slog.Logger

	sched *Schedule
	// pids maps the core's opaque target keys back to addresses.
	pids map[string]*actor.PID
	// fires is reused between wakes to avoid an allocation per tick batch.
	fires []Fire

	timer      *time.Timer
	generation uint64
	armedFor   time.Time
	// gaugeShare is what this incarnation added to the registrations gauge,
	// taken back when it stops.
	gaugeShare int
}

// Receive implements actor.Actor.
func (h *heartbeat) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		h.start(ctx)
		return
	case *actor.Stopping, *actor.Restarting:
		h.stop(ctx)
		return
	}
	if h.sched == nil {
		return // failed to start and is stopping: nothing to serve
	}
	switch ctx.Message().(type) {
	case *heartbeatv1.Register, *heartbeatv1.Unregister, *heartbeatv1.GetStats:
		if ctx.Sender() == nil {
			// The sender is the target and the one to answer: without it
			// there is nothing sensible to do.
			h.drop(reasonNoSender, ctx.Message())
			return
		}
	}
	switch msg := ctx.Message().(type) {
	case *heartbeatv1.Register:
		h.register(ctx, msg)
	case *heartbeatv1.Unregister:
		h.unregister(ctx, msg)
	case *heartbeatv1.GetStats:
		ctx.Respond(&heartbeatv1.Stats{
			Registrations:    uint32(h.sched.Len()),
			Targets:          uint32(h.sched.Targets()),
			MaxRegistrations: uint32(h.cfg.MaxRegistrations),
		})
	case *heartbeatv1.Wake:
		if msg.GetGeneration() != h.generation {
			return // a timer re-armed since; its successor will wake us
		}
		h.armedFor = time.Time{}
		now := h.deps.Clock.Now()
		h.fire(ctx, now)
		h.rearm(ctx, now)
	case *actor.Terminated:
		h.targetStopped(ctx, msg.GetWho())
	default:
		h.drop(reasonUnexpected, msg)
	}
}

func (h *heartbeat) drop(reason string, msg any) {
	h.metrics.dropped.WithLabelValues(reason).Inc()
	h.log.Warn("message dropped", slog.String("reason", reason), slog.String("type", fmt.Sprintf("%T", msg)))
}

func (h *heartbeat) start(ctx actor.Context) {
	h.log = h.deps.Logger
	if h.log == nil {
		h.log = ctx.Logger()
	}
	h.log = h.log.With(slog.String("actor", "heartbeat"), slog.String("pid", ctx.Self().String()))
	if h.metricsErr != nil {
		h.log.Warn("heartbeat metrics not registered; running without them", slog.Any("err", h.metricsErr))
	}
	if h.startErr != nil {
		h.log.Error("heartbeat cannot start; stopping", slog.Any("err", h.startErr))
		ctx.Stop(ctx.Self())
		return
	}
	h.sched = NewSchedule(h.cfg)
	h.pids = make(map[string]*actor.PID)
	h.metrics.limit.Set(float64(h.cfg.MaxRegistrations))
}

func (h *heartbeat) register(ctx actor.Context, msg *heartbeatv1.Register) {
	target := ctx.Sender()
	now := h.deps.Clock.Now()
	res, err := h.schedule(target, msg, now)
	if err != nil {
		reason := reasonInvalid
		if errors.Is(err, ErrFull) {
			reason = reasonFull
		}
		h.metrics.rejected.WithLabelValues(reason).Inc()
		h.log.Debug("Register rejected", slog.String("target", target.String()), slog.Any("err", err))
		ctx.Respond(&heartbeatv1.Registered{Name: msg.GetName(), Error: err.Error()})
		return
	}
	if res.NewTarget {
		h.pids[targetKey(target)] = target
		ctx.Watch(target)
	}
	h.syncGauge()
	ctx.Respond(&heartbeatv1.Registered{Name: msg.GetName()})
	// A zero initial delay is due at once; firing here keeps it after the
	// Registered reply without waiting for a timer.
	h.fire(ctx, now)
	h.rearm(ctx, now)
}

// schedule decodes the durations of msg and registers it.
func (h *heartbeat) schedule(target *actor.PID, msg *heartbeatv1.Register, now time.Time) (RegisterResult, error) {
	interval, err := duration("interval", msg.GetInterval())
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register %q: %w", msg.GetName(), err)
	}
	delay, err := duration("initial_delay", msg.GetInitialDelay())
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register %q: %w", msg.GetName(), err)
	}
	return h.sched.Register(targetKey(target), msg.GetName(), interval, delay, now)
}

// duration converts an optional protobuf duration; unset means zero.
func duration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return d.AsDuration(), nil
}

func (h *heartbeat) unregister(ctx actor.Context, msg *heartbeatv1.Unregister) {
	target := ctx.Sender()
	res := h.sched.Unregister(targetKey(target), msg.GetName())
	if res.TargetGone {
		delete(h.pids, targetKey(target))
		ctx.Unwatch(target)
	}
	h.syncGauge()
	ctx.Respond(&heartbeatv1.Unregistered{Name: msg.GetName(), Found: res.Found})
	h.rearm(ctx, h.deps.Clock.Now())
}

func (h *heartbeat) targetStopped(ctx actor.Context, who *actor.PID) {
	if who == nil {
		return
	}
	k := targetKey(who)
	n := h.sched.RemoveTarget(k)
	delete(h.pids, k)
	if n > 0 {
		h.log.Debug("target stopped; registrations dropped", slog.String("target", who.String()), slog.Int("registrations", n))
	}
	h.syncGauge()
	h.rearm(ctx, h.deps.Clock.Now())
}

// fire sends every tick due at now, in the core's order.
func (h *heartbeat) fire(ctx actor.Context, now time.Time) {
	h.fires = h.sched.AppendDue(h.fires[:0], now)
	if len(h.fires) == 0 {
		return
	}
	var missed uint64
	var worst time.Duration
	for _, f := range h.fires {
		// A Timestamp per Tick: sharing one would alias state between the
		// messages of different receivers.
		ctx.Send(h.pids[f.Target], &heartbeatv1.Tick{Name: f.Name, Seq: f.Seq, Now: timestamppb.New(now)})
		h.metrics.tickLag.Observe(f.Lag.Seconds())
		missed += f.Missed
		worst = max(worst, f.Lag)
	}
	h.metrics.ticksSent.Add(float64(len(h.fires)))
	if missed > 0 {
		h.metrics.ticksMissed.Add(float64(missed))
		// One line per stalled wake, not per registration: a stall hits them all.
		h.log.Warn("heartbeat stalled; missed ticks coalesced",
			slog.Uint64("missed", missed), slog.Duration("max_lag", worst), slog.Int("ticks", len(h.fires)))
	}
}

// rearm points the one timer at the earliest due time. The timer's goroutine
// only sends a Wake to the actor; the work happens on the mailbox.
func (h *heartbeat) rearm(ctx actor.Context, now time.Time) {
	next, ok := h.sched.NextWake()
	if ok && next.Equal(h.armedFor) {
		return
	}
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.generation++
	h.armedFor = time.Time{}
	if !ok {
		return
	}
	h.armedFor = next
	gen, self, root := h.generation, ctx.Self(), ctx.ActorSystem().Root
	h.timer = time.AfterFunc(max(next.Sub(now), 0), func() {
		root.Send(self, &heartbeatv1.Wake{Generation: gen})
	})
}

func (h *heartbeat) syncGauge() {
	n := h.sched.Len()
	h.metrics.registrations.Add(float64(n - h.gaugeShare))
	h.gaugeShare = n
}

// stop releases what outlives the incarnation: the timer, the watches on
// targets (their Terminated would otherwise go to dead letters) and this
// incarnation's share of the registrations gauge.
func (h *heartbeat) stop(ctx actor.Context) {
	for _, pid := range h.pids {
		ctx.Unwatch(pid)
	}
	h.pids = nil
	h.sched = nil // later user messages are dropped by the guard in Receive
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.generation++
	if h.metrics != nil {
		h.metrics.registrations.Sub(float64(h.gaugeShare))
	}
	h.gaugeShare = 0
}

// targetKey is the core's opaque name for a target.
func targetKey(pid *actor.PID) string {
	return pid.GetAddress() + "/" + pid.GetId()
}
