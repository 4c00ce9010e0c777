package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/internal/actorkit"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// incarnations numbers actor instances process-wide, so that the
// WriteCompleted of an instance that was restarted is recognised as stale.
var incarnations atomic.Uint64

// Props returns the props of the storage actor. cfg must be valid
// (Validate) and deps.Backend set; otherwise the actor logs the problem and
// stops at start. Metrics are created here, once, so a restarted actor keeps
// its series; if they cannot be registered the actor logs why and runs
// without exporting them.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	m, metricsErr := newMetrics(deps.Registerer)
	var log *slog.Logger
	if deps.Logger != nil {
		log = deps.Logger.With("actor", "storage")
	}
	return actorkit.Props(func() actor.Actor {
		return &storageActor{
			cfg:            cfg,
			deps:           deps,
			m:              m,
			log:            log,
			core:           NewWriteBehind(cfg),
			waiters:        map[uint64]*actor.PID{},
			dropsSinceTick: map[DropReason]int{},
			incarnation:    incarnations.Add(1),
			metricsErr:     metricsErr,
		}
	}, opts...)
}

// job is the write run by the actor's writer goroutine. err is set before
// done is closed, so the actor may read it after <-done. Whoever sets
// claimed first reports the outcome: normally the goroutine, by sending
// WriteCompleted; while stopping, the actor itself, so that the goroutine
// does not send to an actor that is about to disappear (a dead letter).
type job struct {
	seq     uint64
	done    chan struct{}
	err     error
	claimed atomic.Bool
}

type storageActor struct {
	cfg         Config
	deps        Deps
	m           *metrics
	log         *slog.Logger
	core        *WriteBehind
	waiters     map[uint64]*actor.PID // Flush token -> requester (nil: no answer)
	token       uint64
	job         *job // the write in flight, if any
	incarnation uint64
	stopping    bool // write synchronously: the mailbox is closing
	// dropsSinceTick counts refused changes per reason, for log summaries;
	// its keys are the few DropReasons.
	dropsSinceTick map[DropReason]int
	// metricsErr is logged at start; the actor runs without those metrics.
	metricsErr error
}

// Receive implements actor.Actor.
func (a *storageActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.started(ctx)
	case *storagev1.Put:
		a.exec(ctx, a.core.Put(m.GetRecord()))
	case *storagev1.Delete:
		a.exec(ctx, a.core.Delete(m.GetPeerId()))
	case *heartbeatv1.Tick:
		if m.GetName() != a.cfg.TickName {
			a.m.errors.WithLabelValues(errInvalidRequest).Inc()
			a.log.Debug("ignoring a tick of another name", "name", m.GetName())
			return
		}
		a.summarizeDrops()
		a.exec(ctx, a.core.Tick())
	case *storagev1.Flush:
		a.token++
		a.waiters[a.token] = ctx.Sender()
		a.exec(ctx, a.core.Flush(a.token))
	case *storagev1.WriteCompleted:
		a.writeCompleted(ctx, m)
	case *storagev1.LoadAll:
		a.loadAll(ctx, m)
	case *heartbeatv1.Registered:
		if m.GetError() != "" {
			a.log.Error("heartbeat refused the flush tick; flushes happen only on threshold, Flush and stop",
				"tick", m.GetName(), "err", m.GetError())
		}
	case *actor.Stopping, *actor.Restarting:
		a.stop(ctx)
	}
}

func (a *storageActor) started(ctx actor.Context) {
	if a.log == nil {
		a.log = ctx.Logger().With("actor", "storage")
	}
	if a.metricsErr != nil {
		a.log.Warn("storage metrics not registered; running without them", "err", a.metricsErr)
	}
	if err := a.cfg.Validate(); err != nil {
		a.log.Error("invalid config; stopping", "err", err)
		ctx.Stop(ctx.Self())
		return
	}
	if a.deps.Backend == nil {
		a.log.Error("no backend in Deps; stopping")
		ctx.Stop(ctx.Self())
		return
	}
	if a.deps.Heartbeat != nil {
		ctx.Request(a.deps.Heartbeat, &heartbeatv1.Register{
			Name:         a.cfg.TickName,
			Interval:     durationpb.New(a.cfg.FlushInterval),
			InitialDelay: durationpb.New(a.cfg.FlushInterval),
		})
	}
}

// exec carries out the core's effects in their documented order. While
// stopping, writes run synchronously until nothing is left to write.
func (a *storageActor) exec(ctx actor.Context, eff Effects) {
	for {
		for _, d := range eff.Drops {
			a.refused(d)
		}
		for _, ack := range eff.Acks {
			a.answer(ctx, ack)
		}
		a.m.pending.Set(float64(a.core.Pending()))
		if eff.Write == nil || a.deps.Backend == nil {
			return
		}
		if !a.stopping {
			a.startWrite(ctx, eff.Write)
			return
		}
		err := a.write(eff.Write)
		eff = a.core.WriteDone(eff.Write.Seq, err)
	}
}

// refused counts a drop and logs it without letting a flood of bad input
// flood the log: the first drop of each reason between two ticks is logged
// with its detail, the rest at debug level, and the tick logs how many there
// were.
func (a *storageActor) refused(d Drop) {
	a.m.errors.WithLabelValues(string(d.Reason)).Inc()
	a.dropsSinceTick[d.Reason]++
	lvl := slog.LevelDebug
	if a.dropsSinceTick[d.Reason] == 1 {
		lvl = slog.LevelWarn
	}
	a.log.Log(context.Background(), lvl, "storage change refused",
		"reason", d.Reason, "peer", fmt.Sprintf("%x", d.PeerID), "err", d.Err)
}

// summarizeDrops logs, once per tick, how many changes were refused since
// the previous tick beyond the first one of each reason.
func (a *storageActor) summarizeDrops() {
	for reason, n := range a.dropsSinceTick {
		if n > 1 {
			a.log.Warn("storage changes refused since the last tick", "reason", reason, "count", n)
		}
	}
	clear(a.dropsSinceTick)
}

func (a *storageActor) answer(ctx actor.Context, ack Ack) {
	to, ok := a.waiters[ack.Waiter]
	delete(a.waiters, ack.Waiter)
	if ok && to != nil {
		ctx.Send(to, &storagev1.Flushed{Written: uint64(ack.Written), Error: ack.Err})
	}
}

// startWrite runs w on a goroutine owned by this actor, which reports back
// with WriteCompleted; the actor keeps receiving meanwhile.
func (a *storageActor) startWrite(ctx actor.Context, w *Write) {
	j := &job{seq: w.Seq, done: make(chan struct{})}
	a.job = j
	root, self, inc := ctx.ActorSystem().Root, ctx.Self(), a.incarnation
	go func() {
		defer close(j.done)
		j.err = a.write(w)
		if !j.claimed.CompareAndSwap(false, true) {
			return // the stopping actor collects the outcome from j
		}
		msg := &storagev1.WriteCompleted{Seq: j.seq, Incarnation: inc}
		if j.err != nil {
			msg.Error = j.err.Error()
		}
		root.Send(self, msg)
	}()
}

// write runs one backend transaction and records its metrics. It touches
// only the backend and the (concurrency-safe) metrics, so it may run on the
// writer goroutine.
func (a *storageActor) write(w *Write) error {
	start := time.Now()
	err := a.deps.Backend.WriteBatch(w.Puts, w.Deletes)
	if err != nil {
		a.m.txs.WithLabelValues("error").Inc()
		a.m.errors.WithLabelValues(errWrite).Inc()
		a.log.Error("peer store write failed; changes kept pending", "changes", w.Size(), "err", err)
		return err
	}
	a.m.flushSecs.Observe(time.Since(start).Seconds())
	a.m.txs.WithLabelValues("ok").Inc()
	a.m.written.WithLabelValues("put").Add(float64(len(w.Puts)))
	a.m.written.WithLabelValues("delete").Add(float64(len(w.Deletes)))
	return nil
}

func (a *storageActor) writeCompleted(ctx actor.Context, m *storagev1.WriteCompleted) {
	if m.GetIncarnation() != a.incarnation || a.job == nil || a.job.seq != m.GetSeq() {
		return // from an earlier incarnation, already handled while stopping
	}
	j := a.job
	a.job = nil
	a.exec(ctx, a.core.WriteDone(j.seq, j.err))
}

// stop makes everything accepted durable before the actor goes away: wait
// for the write in flight, then write the rest synchronously.
func (a *storageActor) stop(ctx actor.Context) {
	a.stopping = true
	if j := a.job; j != nil {
		// If the goroutine already sent WriteCompleted, it sits in the
		// mailbox and is dropped with it (or ignored by the next
		// incarnation); either way the outcome is taken from j.
		j.claimed.Store(true)
		<-j.done
		a.job = nil
		a.exec(ctx, a.core.WriteDone(j.seq, j.err))
	}
	a.exec(ctx, Effects{Write: a.core.Drain()})
	if n := a.core.Pending(); n > 0 {
		a.log.Error("peer store changes lost at stop: the final write failed", "changes", n)
	}
	// Answer anyone still waiting, so no requester hangs on a stopped actor.
	for token := range a.waiters {
		a.answer(ctx, Ack{Waiter: token, Err: "storage actor stopped before the write completed"})
	}
}

// loadAll streams the stored records to the requester, overlaid with the
// changes that are accepted but not yet durable, so a LoadAll always sees
// the latest Put or Delete. It runs on the actor's goroutine: it happens
// once at node start, and answering it from a consistent overlay is simpler
// than tracking changes made during a concurrent load.
func (a *storageActor) loadAll(ctx actor.Context, m *storagev1.LoadAll) {
	to := ctx.Sender()
	if to == nil {
		a.m.errors.WithLabelValues(errInvalidRequest).Inc()
		a.log.Warn("LoadAll sent without a sender (use Request); ignored")
		return
	}
	size := a.cfg.LoadBatchSize
	if n := int(m.GetBatchSize()); n > 0 {
		size = min(n, maxLoadBatchSize)
	}
	var loaded uint64
	send := func(batch []*peerv1.PeerRecord) {
		if len(batch) > 0 {
			loaded += uint64(len(batch))
			ctx.Send(to, &storagev1.LoadBatch{Records: batch})
		}
	}
	res, err := a.deps.Backend.LoadAll(size, func(batch []*peerv1.PeerRecord) error {
		kept := batch[:0]
		for _, rec := range batch {
			if !a.core.Shadowed(rec.GetPeerId()) {
				kept = append(kept, rec)
			}
		}
		send(kept)
		return nil
	})
	done := &storagev1.LoadCompleted{Skipped: uint64(res.Skipped)}
	if res.Skipped > 0 {
		a.m.errors.WithLabelValues(errDecode).Add(float64(res.Skipped))
		a.log.Warn("skipped unreadable peer records", "skipped", res.Skipped, "first", res.Skips)
	}
	if err != nil {
		a.m.errors.WithLabelValues(errLoad).Inc()
		a.log.Error("load of the peer store failed", "err", err)
		done.Error = err.Error()
	} else {
		unwritten := a.core.Unwritten()
		for len(unwritten) > 0 {
			n := min(size, len(unwritten))
			send(unwritten[:n:n])
			unwritten = unwritten[n:]
		}
	}
	done.Loaded = loaded
	a.m.loaded.Add(float64(loaded))
	ctx.Send(to, done)
}
