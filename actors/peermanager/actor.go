package peermanager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/internal/actorkit"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// Props returns the props of a peer manager actor. Metrics are registered
// here, once, so a restart keeps its series.
//
// A Config that does not validate, or missing required Deps, does not
// panic: the actor logs the error and answers every request with it, so no
// requester waits forever. Call cfg.Validate first to fail early.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	m, metricsErr := newMetrics(deps.Registerer)
	var misconfigured error
	if deps.Dialer == nil {
		misconfigured = errors.New("peermanager deps: Dialer is nil")
	}
	return actorkit.Props(func() actor.Actor {
		return &managerActor{cfg: cfg, deps: deps, metrics: m, metricsErr: metricsErr, misconfigured: misconfigured}
	}, opts...)
}

// managerActor is the thin shell around Manager: it turns messages into
// core calls (stamping requests and events with the clock, ticks with their
// own time) and executes the returned effects.
type managerActor struct {
	cfg           Config
	deps          Deps
	metrics       *metrics
	metricsErr    error
	misconfigured error

	core *Manager
	log  *slog.Logger
	// requesters maps the core's reply tokens to the PIDs awaiting answers;
	// it holds only requests the core still owes an answer, which the core
	// bounds (MaxPendingRequests).
	requesters  map[uint64]*actor.PID
	nextToken   uint64
	kickPending bool
}

// Receive implements actor.Actor.
func (a *managerActor) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		a.started(c)
		return
	case *actor.Stopping, *actor.Restarting:
		// Requests waiting on dials are answered now: the instance that
		// owes them the answer is going away.
		if a.core != nil {
			a.execute(c, a.core.Stop(fmt.Sprintf("peer manager %s", stopWord(c.Message()))))
		}
		return
	case *actor.Stopped:
		return
	}
	if a.core == nil {
		a.refuse(c)
		return
	}
	now := time.Now() // stamps requests and events; ticks carry their own time
	var eff Effects
	switch m := c.Message().(type) {
	case *heartbeatv1.Tick:
		eff = a.tick(m)
	case *pmv1.ConnectivityKick:
		a.kickPending = false
		eff = a.core.Kick(now)
	case *dialerv1.DialCompleted:
		eff = a.core.OnDialCompleted(m, now)
	case *pmv1.PeerConnected:
		eff = a.core.OnPeerConnected(m, eventTime(m.GetTime(), now))
	case *pmv1.PeerDisconnected:
		eff = a.core.OnPeerDisconnected(m, eventTime(m.GetTime(), now))
	case *pmv1.IdentifyCompleted:
		eff = a.core.OnIdentifyCompleted(m, eventTime(m.GetTime(), now))
	case *pmv1.PeerProtocolsUpdated:
		eff = a.core.OnPeerProtocolsUpdated(m, eventTime(m.GetTime(), now))
	case *pmv1.PeerMetadata:
		eff = a.core.OnPeerMetadata(m, now)
	case *pmv1.SetShards:
		a.core.SetShards(m)
	case *pmv1.MeshPeersChanged:
		eff = a.core.MeshPeersChanged(m)
	case *storagev1.LoadBatch:
		eff = a.core.LoadFromStorage(m)
	case *storagev1.LoadCompleted:
		eff = a.core.LoadCompleted(m)
	case *actor.DeadLetterResponse:
		eff = a.deadLetter(c)
	case *heartbeatv1.Registered:
		if m.GetError() != "" {
			a.log.Error("heartbeat registration failed", "tick", m.GetName(), "err", m.GetError())
		}
	case *pmv1.AddPeer:
		eff = a.core.AddPeer(a.token(c), m, now)
	case *pmv1.GetPeers:
		eff = a.core.GetPeers(a.token(c), m, now)
	case *pmv1.ConnectToNodes:
		eff = a.core.ConnectToNodes(a.token(c), m, now)
	case *pmv1.DialPeerRequest:
		eff = a.core.DialPeer(a.token(c), m, now)
	case *pmv1.SelectPeer:
		eff = a.core.HandleSelectPeer(a.token(c), m)
	case *pmv1.AddServicePeer:
		eff = a.core.AddServicePeer(a.token(c), m, now)
	case *pmv1.ConnectedPeers:
		eff = a.core.HandleConnectedPeers(a.token(c), m)
	case *pmv1.ReconnectPeers:
		eff = a.core.ReconnectPeers(a.token(c), m, now)
	case *pmv1.RecordShutdown:
		eff = a.core.RecordShutdown(a.token(c), now)
	case *pmv1.GetStatus:
		a.respond(c, a.core.Status(now))
	case *pmv1.GetNumStreams:
		a.respond(c, a.numStreams(m))
	default:
		a.log.Debug("unexpected message", "type", fmt.Sprintf("%T", m))
	}
	a.execute(c, eff)
}

func (a *managerActor) started(c actor.Context) {
	a.log = a.deps.Logger
	if a.log == nil {
		a.log = c.Logger()
	}
	a.log = a.log.With("actor", "peermanager", "pid", c.Self().GetId())
	if a.metricsErr != nil {
		a.log.Warn("peermanager metrics not fully registered", "err", a.metricsErr)
	}
	a.requesters = make(map[uint64]*actor.PID)
	a.kickPending = false
	if a.misconfigured != nil {
		a.log.Error("peermanager misconfigured; every request will be refused", "err", a.misconfigured)
		return
	}
	core, err := NewManager(a.cfg, a.deps.Self)
	if err != nil {
		a.misconfigured = err
		a.log.Error("peermanager misconfigured; every request will be refused", "err", err)
		return
	}
	a.core = core
	core.Start(time.Now()) // stamps the Started event: LoadTimeout counts from it
	t := core.Targets()
	a.log.Info("peer manager started", "maxRelayPeers", t.MaxRelayPeers, "outRelayPeersTarget", t.OutRelayPeers,
		"inRelayPeersTarget", t.InRelayPeers, "maxConnections", a.cfg.MaxConnections, "storage", a.deps.Storage != nil)
	if hb := a.deps.Heartbeat; hb != nil {
		for _, r := range []struct {
			name  string
			every time.Duration
		}{
			{TickConnectivity, a.cfg.ConnectivityInterval}, {TickPrune, a.cfg.PruneInterval}, {TickLogMetrics, a.cfg.LogMetricsInterval},
		} {
			c.Request(hb, &heartbeatv1.Register{Name: r.name, Interval: durationpb.New(r.every), InitialDelay: durationpb.New(r.every)})
		}
	}
	if a.deps.Connections != nil {
		// Connections that outlived a restart; live records win over the
		// stored ones loaded next.
		now := time.Now()
		for _, ev := range a.deps.Connections.Connections() {
			a.execute(c, core.OnPeerConnected(ev, eventTime(ev.GetTime(), now)))
		}
	}
	if a.deps.Storage != nil {
		// A restarted actor reloads too: the books are rebuilt from disk.
		c.Request(a.deps.Storage, &storagev1.LoadAll{})
	} else {
		core.MarkLoaded()
	}
}

// refuse answers a request when the actor is misconfigured.
func (a *managerActor) refuse(c actor.Context) {
	if c.Sender() == nil {
		return
	}
	msg := fmt.Sprintf("peer manager misconfigured: %v", a.misconfigured)
	var answer proto.Message
	switch c.Message().(type) {
	case *pmv1.AddPeer:
		answer = &pmv1.PeerAdded{Error: msg}
	case *pmv1.GetPeers:
		answer = &pmv1.Peers{Error: msg}
	case *pmv1.ConnectToNodes:
		answer = &pmv1.NodesConnected{Error: msg}
	case *pmv1.DialPeerRequest:
		answer = &pmv1.DialPeerResponse{Error: msg, Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED}
	case *pmv1.SelectPeer:
		answer = &pmv1.PeerSelected{Error: msg}
	case *pmv1.AddServicePeer:
		answer = &pmv1.ServicePeerAdded{Error: msg}
	case *pmv1.ConnectedPeers:
		answer = &pmv1.ConnectedPeersList{Error: msg}
	case *pmv1.ReconnectPeers:
		answer = &pmv1.ReconnectStarted{Error: msg}
	case *pmv1.RecordShutdown:
		answer = &pmv1.ShutdownRecorded{Error: msg}
	case *pmv1.GetNumStreams:
		answer = &pmv1.NumStreams{Error: msg}
	default:
		return
	}
	c.Send(c.Sender(), answer)
}

func (a *managerActor) tick(t *heartbeatv1.Tick) Effects {
	now := t.GetNow().AsTime()
	switch t.GetName() {
	case TickConnectivity:
		return a.core.ConnectToRelayPeers(now)
	case TickPrune:
		return a.core.PrunePeerStore(now)
	case TickLogMetrics:
		eff, protos := a.core.LogAndMetrics(now)
		if a.deps.Streams != nil {
			a.metrics.streamsPeers.Reset()
			for _, p := range protos {
				in, out := a.deps.Streams.NumStreams(p)
				a.metrics.streamsPeers.WithLabelValues("In", p).Set(float64(in))
				a.metrics.streamsPeers.WithLabelValues("Out", p).Set(float64(out))
			}
		}
		return eff
	}
	a.log.Warn("unknown tick", "name", t.GetName())
	return Effects{}
}

func (a *managerActor) numStreams(m *pmv1.GetNumStreams) *pmv1.NumStreams {
	if err := checkProtocol(m.GetProtocol()); err != nil {
		a.metrics.errors.WithLabelValues(errorType(err)).Inc()
		return &pmv1.NumStreams{Error: err.Error()}
	}
	if a.deps.Streams == nil {
		return &pmv1.NumStreams{Error: "peer manager has no stream counter (Deps.Streams)"}
	}
	in, out := a.deps.Streams.NumStreams(m.GetProtocol())
	return &pmv1.NumStreams{Inbound: uint32(in), Outbound: uint32(out)}
}

// token registers the sender of the current request; 0 means nobody to
// answer.
func (a *managerActor) token(c actor.Context) uint64 {
	if c.Sender() == nil {
		return 0
	}
	a.nextToken++
	a.requesters[a.nextToken] = c.Sender()
	return a.nextToken
}

func (a *managerActor) respond(c actor.Context, m proto.Message) {
	if c.Sender() != nil {
		c.Send(c.Sender(), m)
	}
}

// execute carries out the effects in the documented order: storage,
// metrics (so a requester that reads them after its answer sees them),
// disconnects, dials, replies, logs, kick.
func (a *managerActor) execute(c actor.Context, eff Effects) {
	if st := a.deps.Storage; st != nil {
		for _, r := range eff.Puts {
			c.Send(st, &storagev1.Put{Record: r})
		}
		for _, id := range eff.Deletes {
			c.Send(st, &storagev1.Delete{PeerId: []byte(id)})
		}
	}
	for _, op := range eff.Metrics {
		a.metrics.apply(op)
	}
	// nwaku's peerStoreChanged hook: the store size follows every change,
	// not only the log tick.
	a.metrics.storeSize.Set(float64(a.core.Len()))
	a.metrics.interned.Set(float64(a.core.Interned()))
	dials, waiters := a.core.Pending()
	a.metrics.pendingDials.Set(float64(dials))
	a.metrics.pendingReqs.Set(float64(waiters))
	for _, d := range eff.Disconnects {
		a.closePeer(d)
	}
	for _, d := range eff.Dials {
		c.Request(a.deps.Dialer, &dialerv1.DialPeer{PeerId: []byte(d.Peer), Addresses: d.Addrs, Source: d.Source,
			Protocol: d.Protocol, Timeout: durationpb.New(d.Timeout)})
	}
	for _, r := range eff.Replies {
		if pid, ok := a.requesters[r.Token]; ok {
			delete(a.requesters, r.Token)
			c.Send(pid, r.Msg)
		}
	}
	for _, l := range eff.Logs {
		a.log.Log(context.Background(), l.Level, l.Msg, l.Args...)
	}
	if eff.Kick && !a.kickPending {
		a.kickPending = true
		c.Send(c.Self(), &pmv1.ConnectivityKick{})
	}
}

// closePeer disconnects on a goroutine: closing waits for the transport and
// must not stall the mailbox. The PeerDisconnected event follows from the
// network adapter.
func (a *managerActor) closePeer(d Disconnect) {
	if a.deps.Closer == nil {
		a.log.Warn("no PeerCloser: cannot disconnect", "peer", d.Peer, "reason", d.Reason)
		return
	}
	closer, log := a.deps.Closer, a.log
	go func() {
		if err := closer.ClosePeer(d.Peer); err != nil {
			log.Warn("disconnect failed", "peer", d.Peer, "reason", d.Reason, "err", err)
		}
	}()
}

// deadLetter handles a request of ours that reached an actor that is gone.
// The response does not say which; the registry does. A dial pool that is
// gone answers none of the dials asked of it, so they are abandoned (their
// requesters answered, the outbound target no longer held by them); a
// storage actor that is gone never finishes the load, so it ends now.
func (a *managerActor) deadLetter(c actor.Context) Effects {
	a.metrics.errors.WithLabelValues(errDeadLetter).Inc()
	gone := func(pid *actor.PID) bool {
		if pid == nil {
			return false
		}
		_, ok := c.ActorSystem().ProcessRegistry.Get(pid)
		return !ok
	}
	var eff Effects
	if gone(a.deps.Dialer) {
		a.log.Error("dial pool unreachable; pending dials abandoned", "dialer", a.deps.Dialer)
		eff = a.core.AbandonDials(dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED, "dial pool unreachable")
	}
	if gone(a.deps.Storage) && !a.core.Loaded() {
		a.execute(c, eff)
		eff = a.core.LoadCompleted(&storagev1.LoadCompleted{Error: "storage actor unreachable"})
	}
	if eff.Empty() {
		a.log.Warn("a request of the peer manager reached an actor that is gone")
	}
	return eff
}

func stopWord(m any) string {
	if _, ok := m.(*actor.Restarting); ok {
		return "restarting"
	}
	return "stopping"
}

// eventTime is the event's own stamp when the adapter set one.
func eventTime(ts *timestamppb.Timestamp, now time.Time) time.Time {
	if ts == nil {
		return now
	}
	return ts.AsTime()
}
