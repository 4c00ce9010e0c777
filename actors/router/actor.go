package router

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/mesh"
	"github.com/peermesh/peermesh/actors/router/session"
	"github.com/peermesh/peermesh/internal/actorkit"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

// Props returns the router's props. Spawn it once per host; send it
// heartbeatv1.Tick every heartbeat interval (1 s), e.g. by registering it
// with the heartbeat actor.
//
// It supervises its children with "stop, and the parent cleans up" (ADR
// 0012): a panicking session or topic actor is stopped, not restarted in
// place; the router restarts the session at the next heartbeats and
// respawns the topic actor from what outlives it.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	return actorkit.Props(func() actor.Actor { return &routerActor{cfg: cfg, deps: deps} },
		append([]actor.PropsOption{actor.WithSupervisor(stopOnFailure(deps.Logger))}, opts...)...)
}

// stopOnFailure is the router's supervisor strategy for its children: stop
// the failed child. Restarting a session in place would start a second
// writer on the same queue and leak the first; restarting a topic actor in
// place would rebuild an empty, un-joined core. The router sees the child's
// Terminated and rebuilds it from state that outlives it.
func stopOnFailure(log *slog.Logger) actor.SupervisorStrategy {
	if log == nil {
		log = slog.Default()
	}
	return actor.NewOneForOneStrategy(0, 0, func(reason any) actor.Directive {
		log.Error("gossipsub actor failed: stopping it", "reason", reason)
		return actor.StopDirective
	})
}

// HeartbeatName is the name of the Tick the router registers for.
const HeartbeatName = "gossipsub"

type topicState struct {
	pid    *actor.PID
	joined bool
	cfg    mesh.Config // to respawn it after a failure
}

// stoppingTopic is a topic actor on its way out (retired, or failed): its
// name is free once terminated, and its backoffs are in the store once
// retired (TopicRetired, from its Stopping; it may arrive after Terminated,
// which is a system message). respawn is set for a failed actor that was in
// use: it is spawned again with the same config, and joined if it was.
type stoppingTopic struct {
	pid                 *actor.PID
	retired, terminated bool
	// terminatedAt counts heartbeats since termination: one heartbeat
	// without TopicRetired (its Stopping failed) and the router goes on
	// without those backoffs.
	terminatedAt uint64
	respawn      *topicState
}

type routerActor struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	m    *metrics
	book *Book
	// records holds identify's signed peer records for PRUNE peer
	// exchange (an I/O edge, see recordBook); stopRecords ends it.
	records     *recordBook
	stopRecords func()
	signer      *wire.Signer
	msgID       func(topic string) wire.MsgIDFn
	acceptor    *acceptor
	inspect     session.InspectFunc
	known       *mesh.KnownIDs // shared with the readers and topic actors (ADR 0027)
	sessions    map[peer.ID]*actor.PID
	topics      map[string]*topicState
	scores      map[peer.ID]float64
	snap        *pubsubv1.ScoresSnapshot // the scores sent with the last TopicTick
	failed      error
	// retry: peers whose session failed while still connected, with the
	// attempts made; retried at the next heartbeats (at most maxRetries).
	retry map[peer.ID]int
	// stopping: topics whose actor is stopping (retired or failed);
	// pending: Joins and Publishes of those topics, run when it has.
	stopping map[string]*stoppingTopic
	pending  map[string][]pendingRequest
	// fresh: topic actors just started, waiting for the sessions to have
	// introduced their peers (LocalTopicsSeen for seq, or the next Tick);
	// their Joins and Publishes are held until then (ADR 0012: peers reach
	// a topic actor only through the sessions).
	fresh       map[string]*freshTopic
	announceSeq uint64 // seq of the last LocalTopics with started topics
	// backoffs keeps the backoffs of topics without an actor (ADR 0012):
	// topic → peer → until, at most MaxTopics topics of Mesh.MaxBackoff
	// entries, expired at each Tick, handed to the topic's next actor.
	backoffs map[string]map[peer.ID]time.Time
	// now is the last Tick's now: the clock the book and new topic actors start from.
	now time.Time
	// heartbeats counts Ticks, to redial direct peers every DirectConnectTicks.
	heartbeats uint64
	// stopped: the router is stopping, its children with it (their
	// Terminated are expected).
	stopped bool
}

// maxRetries bounds how often a failed session is restarted for a peer that
// stays connected (its protocol may simply not be pubsub).
const maxRetries = 3

func (r *routerActor) Receive(c actor.Context) {
	if _, ok := c.Message().(*actor.Started); ok {
		if err := r.start(c); err != nil {
			r.failed = err
			r.log.Error("router cannot start", "err", err)
		}
		return
	}
	if r.failed != nil {
		r.refuse(c, r.failed)
		return
	}
	switch m := c.Message().(type) {
	case *pubsubv1.PeerConnected:
		r.ensureSession(c, peer.ID(m.GetPeer()), m.GetOutbound())
	case *pubsubv1.InboundStreamOpened:
		ok := r.ensureSession(c, peer.ID(m.GetPeer()), m.GetOutbound())
		c.Respond(&pubsubv1.InboundStreamAccepted{Accepted: ok})
	case *pubsubv1.PeerDisconnected:
		delete(r.retry, peer.ID(m.GetPeer()))
		r.dropPeer(c, peer.ID(m.GetPeer()), true)
		r.m.retained.Set(float64(r.book.Retained()))
	case *pubsubv1.SessionClosed:
		// The connection may well be alive (a reset stream, a slow
		// negotiation): keep what the peer announced on its own stream and
		// restart the session at the next heartbeats.
		id := peer.ID(m.GetPeer())
		r.log.Debug("session closed", "peer", id, "reason", m.GetReason())
		r.dropPeer(c, id, false)
		if n, ok := r.retry[id]; !ok || n < maxRetries {
			r.retry[id] = n
		}
	case *pubsubv1.LocalTopicsSeen:
		r.topicsSeen(c, peer.ID(m.GetPeer()), m.GetSeq())
	case *pubsubv1.SessionStarted:
		r.sessionStarted(c, peer.ID(m.GetPeer()), m.GetProtocol())
	case *pubsubv1.PeerSubscriptions:
		r.peerSubscriptions(c, m)
	case *pubsubv1.TopicReport:
		r.report(c, m)
	case *pubsubv1.TopicRetired:
		r.topicRetired(c, m)
	case *pubsubv1.PeerBehaviourPenalty:
		r.book.Penalty(peer.ID(m.GetPeer()), m.GetPenalty())
		r.m.penalties.WithLabelValues(m.GetReason()).Inc()
		if m.GetReason() == mesh.PenaltyGraftDirect.String() {
			// Direct peering only works when both sides configure it: the
			// operator of one of them has to fix a configuration.
			r.log.Warn("direct peer sent GRAFT: it does not have us as a direct peer", "peer", peer.ID(m.GetPeer()))
		}
	case *dialerv1.DialCompleted:
		r.m.directRedials.WithLabelValues(m.GetOutcome().String()).Inc()
		if m.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED {
			r.log.Debug("direct peer redial failed", "peer", peer.ID(m.GetPeerId()), "outcome", m.GetOutcome(), "reason", m.GetReason())
		}
	case *heartbeatv1.Tick:
		r.heartbeat(c, m)
	case *heartbeatv1.Registered:
		if m.GetError() != "" {
			r.log.Error("heartbeat registration refused: the router gets no Ticks", "err", m.GetError())
		}
	case *pubsubv1.Join:
		r.join(c, m, c.Sender())
	case *actor.Terminated:
		r.childStopped(c, m.GetWho())
	case *pubsubv1.Leave:
		r.leave(c, m)
	case *pubsubv1.Publish:
		r.publish(c, m)
	case *pubsubv1.Subscribe:
		if ts := r.topics[m.GetTopic()]; ts != nil && !ts.joined {
			// A left or publish-only topic delivers nothing.
			r.notJoined(c, m.GetTopic(), &pubsubv1.Subscribed{Topic: m.GetTopic()})
			return
		}
		r.forward(c, m.GetTopic(), &pubsubv1.Subscribed{Topic: m.GetTopic()})
	case *pubsubv1.Unsubscribe:
		r.forward(c, m.GetTopic(), &pubsubv1.Unsubscribed{Topic: m.GetTopic()})
	case *pubsubv1.RegisterValidator:
		r.forward(c, m.GetTopic(), &pubsubv1.ValidatorRegistered{Topic: m.GetTopic()})
	case *pubsubv1.GetMesh:
		r.forward(c, m.GetTopic(), &pubsubv1.Mesh{Topic: m.GetTopic()})
	case *pubsubv1.GetScores:
		c.Respond(r.explainAll())
	case *pubsubv1.PeerExchangeReceived:
		if r.deps.PeerExchange != nil {
			c.Send(r.deps.PeerExchange, m)
		} else {
			r.m.refused.WithLabelValues("px_no_receiver").Add(float64(len(m.GetPeers())))
		}
	case *actor.Stopping:
		r.stopped = true
		r.stop()
	}
}

func (r *routerActor) start(c actor.Context) error {
	r.log = r.deps.Logger
	if r.log == nil {
		r.log = slog.Default()
	}
	r.sessions, r.topics, r.scores = map[peer.ID]*actor.PID{}, map[string]*topicState{}, map[peer.ID]float64{}
	r.retry = map[peer.ID]int{}
	r.stopping, r.pending = map[string]*stoppingTopic{}, map[string][]pendingRequest{}
	r.fresh = map[string]*freshTopic{}
	r.backoffs = map[string]map[peer.ID]time.Time{}
	if err := r.cfg.Validate(); err != nil {
		return err
	}
	if r.deps.Host == nil {
		return fmt.Errorf("router: Deps.Host is nil")
	}
	m, err := newMetrics(r.deps.Registerer)
	if err != nil {
		return fmt.Errorf("router: register metrics: %w", err)
	}
	r.m = m
	if len(r.cfg.DirectPeers) > 0 {
		// Every topic core marks them Direct when they subscribe.
		r.cfg.Mesh.DirectPeers = make([]peer.ID, len(r.cfg.DirectPeers))
		for i, d := range r.cfg.DirectPeers {
			r.cfg.Mesh.DirectPeers[i] = d.ID
			r.deps.Host.Peerstore().AddAddrs(d.ID, d.Addrs, peerstore.PermanentAddrTTL)
		}
	}
	r.book = NewBook(r.cfg.MaxPeers, r.cfg.Score, r.cfg.Mesh.Thresholds)
	evicted := r.m.refused.WithLabelValues("peer_record_evicted")
	if r.records, r.stopRecords, err = startRecordBook(r.deps.Host, r.cfg.MaxPeers, evicted.Inc); err != nil {
		return fmt.Errorf("router: subscribe to identify events: %w", err)
	}
	r.msgID = msgIDs(r.cfg)
	r.inspect = inspector(r.cfg.Profile, r.cfg.MaxMessageSize, r.msgID)
	r.known = mesh.NewKnownIDs(0, 0, nil)
	if r.cfg.Profile.SignaturePolicy() == wire.StrictSign {
		key := r.deps.Key
		if key == nil {
			key = r.deps.Host.Peerstore().PrivKey(r.deps.Host.ID())
		}
		// The seqno starts at the wall clock in ns so that ids do not repeat
		// across restarts (as go-libp2p-pubsub does); this is identity, not policy.
		if r.signer, err = wire.NewSigner(key, wire.NewSeqnoSource(uint64(time.Now().UnixNano()))); err != nil {
			return fmt.Errorf("router: signer: %w", err)
		}
	}
	h := r.deps.Host
	r.acceptor = &acceptor{root: c.ActorSystem().Root, router: c.Self(), cfg: r.cfg.Session,
		in:      session.InboundDeps{Inspect: r.inspect, Known: r.known.Has},
		timeout: r.cfg.AcceptTimeout, framePenalty: r.cfg.PenaltyMalformedFrame, metrics: m.session, log: r.log, current: map[peer.ID]inbound{}}
	for _, p := range r.cfg.Session.Protocols {
		h.SetStreamHandler(p, r.acceptor.handleStream)
	}
	h.Network().Notify(r.acceptor.notifee())
	if r.deps.Heartbeat != nil {
		c.Request(r.deps.Heartbeat, &heartbeatv1.Register{Name: HeartbeatName,
			Interval: durationpb.New(r.cfg.HeartbeatInterval), InitialDelay: durationpb.New(r.cfg.HeartbeatInitialDelay)})
	}
	for _, conn := range h.Network().Conns() {
		c.Send(c.Self(), &pubsubv1.PeerConnected{Peer: []byte(conn.RemotePeer()), Outbound: conn.Stat().Direction == network.DirOutbound})
	}
	return nil
}

func (r *routerActor) stop() {
	if r.stopRecords != nil {
		r.stopRecords()
		r.stopRecords = nil
	}
	if r.acceptor == nil {
		return
	}
	for _, p := range r.cfg.Session.Protocols {
		r.deps.Host.RemoveStreamHandler(p)
	}
	r.deps.Host.Network().StopNotify(r.acceptor.notifee())
	r.acceptor.close()
}

// refuse answers a request when the router could not start.
func (r *routerActor) refuse(c actor.Context, err error) {
	if c.Sender() == nil {
		return
	}
	switch m := c.Message().(type) {
	case *pubsubv1.Join:
		c.Respond(&pubsubv1.Joined{Topic: m.GetTopic(), Error: err.Error()})
	case *pubsubv1.Publish:
		c.Respond(&pubsubv1.Published{Topic: m.GetTopic(), Error: err.Error()})
	case *pubsubv1.InboundStreamOpened:
		c.Respond(&pubsubv1.InboundStreamAccepted{Reason: err.Error()})
	}
}

// ensureSession starts the peer's session if it has none.
func (r *routerActor) ensureSession(c actor.Context, id peer.ID, outbound bool) bool {
	if _, ok := r.sessions[id]; ok {
		return true
	}
	if id == r.deps.Host.ID() {
		return false
	}
	if !r.book.AddPeer(id, outbound, r.peerIPs(id)...) {
		r.m.refused.WithLabelValues("max_peers").Inc()
		return false
	}
	joined, tracked := r.topicSets()
	// PeerTopics: what the peer announced to a previous session of ours
	// (the book's copy; empty after a disconnect), as it will not repeat
	// its hello on the stream it already has.
	deps := session.Deps{Peer: id, Outbound: outbound, Opener: hostOpener{r.deps.Host}, Closer: r.deps.Host.Network(), Inspect: r.inspect,
		Metrics: r.m.session, Logger: r.log, PeerTopics: r.book.Topics(id), Topics: joined, Tracked: tracked,
		AcceptTopic: r.cfg.SubscriptionFilter}
	pid, err := c.SpawnNamed(session.Props(r.cfg.Session, deps), "peer/"+id.String())
	if err != nil {
		// Most likely the previous session of this peer is still stopping
		// (its name is taken): try again at the next heartbeat.
		r.log.Debug("spawn session", "peer", id, "err", err)
		if _, ok := r.retry[id]; !ok {
			r.retry[id] = 0
		}
		return false
	}
	r.sessions[id] = pid
	r.m.peers.Set(float64(len(r.sessions)))
	if gray, sc := r.book.Graylisted(id); gray {
		// A peer graylisted before its disconnect is still (RetainScore).
		c.Send(pid, &pubsubv1.PeerStatus{Graylisted: true, Score: sc})
	}
	return true
}

// dropPeer stops the peer's session; its Stopping takes the peer out of
// every topic actor it introduced it to (ADR 0012: the router sends topic
// actors no membership). forget (the peer disconnected) drops what the peer
// announced and keeps its score for RetainScore; otherwise the book keeps
// its subscriptions for the restarted session.
func (r *routerActor) dropPeer(c actor.Context, id peer.ID, forget bool) {
	pid, ok := r.sessions[id]
	if ok {
		delete(r.sessions, id)
		c.Stop(pid)
		r.m.peers.Set(float64(len(r.sessions)))
		for t, f := range r.fresh {
			if f.waiting[id] {
				delete(f.waiting, id)
				r.maybeFresh(c, t)
			}
		}
	}
	if forget {
		r.book.Disconnect(id, r.now)
	}
}

// sessionStarted records the negotiated protocol.
func (r *routerActor) sessionStarted(_ actor.Context, id peer.ID, protocol string) {
	delete(r.retry, id)
	r.book.SetProtocol(id, protocol)
}

// peerSubscriptions keeps the router's observer copy of what the peer
// announced; the session told the topic actors itself.
func (r *routerActor) peerSubscriptions(_ actor.Context, m *pubsubv1.PeerSubscriptions) {
	id := peer.ID(m.GetPeer())
	for _, sub := range m.GetSubscriptions() {
		r.book.Subscribe(id, sub.GetTopicid(), sub.GetSubscribe())
	}
}

func (r *routerActor) report(c actor.Context, m *pubsubv1.TopicReport) {
	if ts := r.topics[m.GetTopic()]; m.GetIdle() && ts != nil && !ts.joined {
		r.retire(c, m.GetTopic(), ts)
		return
	}
	// Only the counters that changed since the topic's last report (ADR
	// 0029); P1 of its mesh peers is derived from its heartbeat time.
	r.book.ReportTopic(m.GetTopic(), asTime(m.GetNow()), m.GetFull())
	for _, pc := range m.GetPeers() {
		if pc.GetRemoved() {
			r.book.Forget(m.GetTopic(), peer.ID(pc.GetPeer()))
			continue
		}
		r.book.Report(m.GetTopic(), peer.ID(pc.GetPeer()), score.TopicCounters{
			InMesh: pc.GetInMesh(), MeshTime: pc.GetMeshTime().AsDuration(), GraftTime: asTime(pc.GetGraftTime()),
			FirstMessageDeliveries: pc.GetFirstMessageDeliveries(), MeshMessageDeliveries: pc.GetMeshMessageDeliveries(),
			MeshMessageDeliveriesActive: pc.GetMeshMessageDeliveriesActive(), MeshFailurePenalty: pc.GetMeshFailurePenalty(),
			InvalidMessageDeliveries: pc.GetInvalidMessageDeliveries(),
		})
	}
}

// asTime is t, or the zero time when unset.
func asTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func (r *routerActor) heartbeat(c actor.Context, tick *heartbeatv1.Tick) {
	if r.heartbeats%uint64(r.cfg.DirectConnectTicks) == 0 {
		r.redialDirect(c)
	}
	r.heartbeats++
	for id, n := range r.retry {
		if n >= maxRetries || r.deps.Host.Network().Connectedness(id) != network.Connected {
			delete(r.retry, id)
			if _, live := r.sessions[id]; !live {
				r.book.Disconnect(id, r.now)
			}
			continue
		}
		r.retry[id] = n + 1
		r.ensureSession(c, id, r.outbound(id))
	}
	if now := tick.GetNow().AsTime(); now.After(r.now) {
		r.now = now
	}
	changes := r.book.Heartbeat(r.now, r.scores)
	for _, ch := range changes {
		if pid := r.sessions[ch.Peer]; pid != nil {
			c.Send(pid, &pubsubv1.PeerStatus{Graylisted: ch.Graylisted, Score: ch.Score})
		}
	}
	r.m.graylist.Set(float64(r.book.GraylistedPeers()))
	r.m.retained.Set(float64(r.book.Retained()))
	r.expireBackoffs()
	for t := range r.fresh {
		r.maybeFresh(c, t, true)
	}
	for topic, st := range r.stopping {
		if st.terminated && !st.retired && r.heartbeats > st.terminatedAt+1 {
			r.log.Warn("topic actor stopped without handing over its backoffs", "topic", topic)
			st.retired = true
			r.topicGone(c, topic, st)
		}
	}
	// One message per topic actor per heartbeat, shared by all of them;
	// the scores are the previous heartbeat's message when none changed,
	// so a topic actor does not apply them again.
	if !r.snapshotCurrent() {
		r.snap = r.scoresSnapshot()
	}
	tt := &pubsubv1.TopicTick{Now: tick.GetNow(), Scores: r.snap}
	for _, ts := range r.topics {
		c.Send(ts.pid, tt)
	}
	for _, pid := range r.sessions {
		c.Send(pid, tick)
	}
}

// redialDirect asks the dial pool to connect each direct peer we have no
// connection to (go-libp2p-pubsub's directConnect). The answers
// (DialCompleted) are counted; a new connection starts a session as usual.
func (r *routerActor) redialDirect(c actor.Context) {
	for _, d := range r.cfg.DirectPeers {
		if r.deps.Host.Network().Connectedness(d.ID) == network.Connected {
			continue
		}
		if r.deps.Dialer == nil {
			r.m.directRedials.WithLabelValues("no_dialer").Inc()
			continue
		}
		addrs := make([][]byte, len(d.Addrs))
		for i, a := range d.Addrs {
			addrs[i] = a.Bytes()
		}
		c.Request(r.deps.Dialer, &dialerv1.DialPeer{PeerId: []byte(d.ID), Addresses: addrs, Source: dialerv1.DialSource_DIAL_SOURCE_STATIC})
		r.m.directRedials.WithLabelValues("sent").Inc()
	}
}

// topicSets returns the joined topics and the other topics with an actor, sorted.
func (r *routerActor) topicSets() (joined, tracked []string) {
	for t, ts := range r.topics {
		if ts.joined {
			joined = append(joined, t)
		} else {
			tracked = append(tracked, t)
		}
	}
	slices.Sort(joined)
	slices.Sort(tracked)
	return joined, tracked
}

// announce tells every session the topic actors (started: those spawned
// since the last announce, to which each session introduces its peer; they
// are fresh until every session has answered).
func (r *routerActor) announce(c actor.Context, started ...string) {
	joined, tracked := r.topicSets()
	lt := &pubsubv1.LocalTopics{Topics: joined, Tracked: tracked, Started: started}
	if len(started) > 0 {
		r.announceSeq++
		lt.Seq = r.announceSeq
		for _, t := range started {
			f := &freshTopic{pid: r.topics[t].pid, seq: r.announceSeq, waiting: make(map[peer.ID]bool, len(r.sessions))}
			for id := range r.sessions {
				f.waiting[id] = true
			}
			r.fresh[t] = f
		}
	}
	for _, pid := range r.sessions {
		c.Send(pid, lt)
	}
	for _, t := range started {
		r.maybeFresh(c, t) // no sessions: nothing to wait for
	}
}

// topicsSeen: the session of id introduced its peer to the topics started
// by LocalTopics{seq}.
func (r *routerActor) topicsSeen(c actor.Context, id peer.ID, seq uint64) {
	for t, f := range r.fresh {
		if f.seq == seq {
			delete(f.waiting, id)
			r.maybeFresh(c, t)
		}
	}
}

// maybeFresh releases the held requests of a fresh topic once no session is
// left to answer (or when forced at a Tick: a session may be stopping).
func (r *routerActor) maybeFresh(c actor.Context, topic string, force ...bool) {
	f := r.fresh[topic]
	if f == nil || (len(f.waiting) > 0 && len(force) == 0) {
		return
	}
	delete(r.fresh, topic)
	for _, p := range f.held {
		c.RequestWithCustomSender(f.pid, p.msg, p.sender)
	}
}

// toTopic sends a request to a topic's actor on behalf of sender, or holds
// it while the actor is fresh (beyond maxPending held, everything goes).
func (r *routerActor) toTopic(c actor.Context, topic string, pid *actor.PID, msg proto.Message, sender *actor.PID) {
	if f := r.fresh[topic]; f != nil {
		if len(f.held) < maxPending {
			f.held = append(f.held, pendingRequest{msg, sender})
			return
		}
		r.maybeFresh(c, topic, true)
	}
	c.RequestWithCustomSender(pid, msg, sender)
}

func (r *routerActor) runHeld(c actor.Context, p pendingRequest) {
	switch m := p.msg.(type) {
	case *pubsubv1.Join:
		r.join(c, m, p.sender)
	case *pubsubv1.Publish:
		r.publishFor(c, m, p.sender)
	}
}

// topicConfig applies a Join's parameters over the default mesh config.
func (r *routerActor) topicConfig(p *pubsubv1.TopicParams) mesh.Config {
	cfg := r.cfg.Mesh
	if p == nil {
		return cfg
	}
	setInt := func(dst *int, v *uint32) {
		if v != nil {
			*dst = int(*v)
		}
	}
	setInt(&cfg.D, p.D)
	setInt(&cfg.Dlo, p.DLo)
	setInt(&cfg.Dhi, p.DHi)
	setInt(&cfg.Dscore, p.DScore)
	setInt(&cfg.Dout, p.DOut)
	setInt(&cfg.Dlazy, p.DLazy)
	setInt(&cfg.HistoryLength, p.HistoryLength)
	setInt(&cfg.HistoryGossip, p.HistoryGossip)
	if p.GossipFactor != nil {
		cfg.GossipFactor = p.GetGossipFactor()
	}
	for _, d := range []struct {
		dst *time.Duration
		v   interface{ AsDuration() time.Duration }
		set bool
	}{
		{&cfg.FanoutTTL, p.GetFanoutTtl(), p.GetFanoutTtl() != nil},
		{&cfg.PruneBackoff, p.GetPruneBackoff(), p.GetPruneBackoff() != nil},
		{&cfg.UnsubscribeBackoff, p.GetUnsubscribeBackoff(), p.GetUnsubscribeBackoff() != nil},
		{&cfg.SeenTTL, p.GetSeenTtl(), p.GetSeenTtl() != nil},
	} {
		if d.set {
			*d.dst = d.v.AsDuration()
		}
	}
	return cfg
}

// spawnTopic starts the mesh actor of topic with the backoffs kept from its
// previous actor. The caller announces it (the sessions introduce their
// peers to it).
func (r *routerActor) spawnTopic(c actor.Context, topic string, cfg mesh.Config) (*topicState, error) {
	if len(r.topics) >= r.cfg.MaxTopics {
		r.m.refused.WithLabelValues("max_topics").Inc()
		return nil, fmt.Errorf("router: %d topics already (MaxTopics)", len(r.topics))
	}
	if topic == "" {
		return nil, fmt.Errorf("router: empty topic name")
	}
	// Per-topic score parameters: Config.Score.Topics[topic] when set,
	// else the mesh default (Config.Mesh.Score).
	if tp, ok := r.cfg.Score.Topics[topic]; ok {
		cfg.Score = tp
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("router: topic %q parameters: %w", topic, err)
	}
	var validate func(*gossipsubv1.Message, time.Time) (mesh.ValidationResult, string)
	if v := r.cfg.MessageValidator; v != nil {
		validate = func(m *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string) { return v(topic, m, now) }
	}
	pid, err := c.SpawnNamed(mesh.Props(cfg, mesh.Deps{Topic: topic, ValidationTimeout: r.cfg.ValidationTimeout,
		Verify: verifier(r.cfg.Profile), Validate: validate, Refused: r.m.session.Dropped, PeerRecord: r.records.Get, Known: r.known,
		Metrics: r.m.mesh, Logger: r.log, Now: r.now, HeartbeatInterval: r.cfg.HeartbeatInterval,
		Backoffs: r.backoffs[topic]}), "topic/"+topic)
	if err != nil {
		return nil, fmt.Errorf("router: spawn topic %q: %w", topic, err)
	}
	delete(r.backoffs, topic) // the actor owns them now
	ts := &topicState{pid: pid, cfg: cfg}
	r.topics[topic] = ts
	r.book.SetTopicParams(topic, cfg.Score)
	if len(r.scores) > 0 {
		c.Send(pid, r.scoresSnapshot())
	}
	return ts, nil
}

// snapshotCurrent reports whether r.snap holds exactly the current scores.
func (r *routerActor) snapshotCurrent() bool {
	if r.snap == nil || len(r.snap.GetScores()) != len(r.scores) {
		return false
	}
	for id, s := range r.scores {
		if v, ok := r.snap.GetScores()[string(id)]; !ok || v != s {
			return false
		}
	}
	return true
}

// scoresSnapshot is the current peer scores as the message the topic actors
// read them from (one snapshot is shared by all of them: they only read it).
func (r *routerActor) scoresSnapshot() *pubsubv1.ScoresSnapshot {
	snap := &pubsubv1.ScoresSnapshot{Scores: make(map[string]float64, len(r.scores))}
	for id, s := range r.scores {
		snap.Scores[string(id)] = s
	}
	return snap
}

// maxPending bounds the Joins and Publishes held for one topic whose
// previous actor is still stopping; more are refused with an error.
const maxPending = 16

// freshTopic is a just-started topic actor and the sessions that have not
// yet introduced their peers to it.
type freshTopic struct {
	pid     *actor.PID
	seq     uint64
	waiting map[peer.ID]bool
	held    []pendingRequest // requests for the actor, sent on release
}

// pendingRequest is a Join or Publish waiting for a topic's actor to stop,
// or for a fresh one to know its peers.
type pendingRequest struct {
	msg    proto.Message
	sender *actor.PID
}

// hold keeps a Join or Publish of a topic whose actor is stopping; false
// when maxPending are held already (the caller answers with an error).
func (r *routerActor) hold(topic string, msg proto.Message, sender *actor.PID) bool {
	if len(r.pending[topic]) >= maxPending {
		r.m.refused.WithLabelValues("pending_requests").Inc()
		return false
	}
	r.pending[topic] = append(r.pending[topic], pendingRequest{msg, sender})
	return true
}

func reply(c actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		c.Send(to, msg)
	}
}

func (r *routerActor) join(c actor.Context, m *pubsubv1.Join, sender *actor.PID) {
	topic := m.GetTopic()
	if _, stopping := r.stopping[topic]; stopping {
		// The topic's previous actor has not stopped yet: its name is
		// still taken and its backoffs not yet handed over. Join once it has.
		if !r.hold(topic, m, sender) {
			reply(c, sender, &pubsubv1.Joined{Topic: topic, Error: "router: topic is still being retired; retry"})
		}
		return
	}
	ts := r.topics[topic]
	if ts != nil && ts.joined {
		reply(c, sender, &pubsubv1.Joined{Topic: topic})
		return
	}
	if ts == nil {
		var err error
		if ts, err = r.spawnTopic(c, topic, r.topicConfig(m.GetParams())); err != nil {
			reply(c, sender, &pubsubv1.Joined{Topic: topic, Error: err.Error()})
			return
		}
		ts.joined = true
		r.announce(c, topic)
	} else {
		// A left (or publish-only) topic whose actor is alive re-joins
		// it, with the backoffs it kept.
		ts.joined = true
		r.announce(c)
	}
	// A fresh actor gets the Join once the sessions have introduced their
	// peers, so it grafts at once.
	r.toTopic(c, topic, ts.pid, m, sender)
}

// retire stops an idle, unjoined topic actor (ADR 0012): left topics and
// publish-only ones expire FanoutTTL after their last use, so they neither
// hold MaxTopics for ever nor forget their backoffs (TopicRetired hands them
// to the router).
func (r *routerActor) retire(c actor.Context, topic string, ts *topicState) {
	delete(r.topics, topic)
	r.stopping[topic] = &stoppingTopic{pid: ts.pid}
	r.book.ForgetTopic(topic)
	r.announce(c)
	c.Send(ts.pid, &pubsubv1.RetireTopic{})
}

// topicRetired keeps a stopped topic actor's backoffs for its next actor.
func (r *routerActor) topicRetired(c actor.Context, m *pubsubv1.TopicRetired) {
	if r.stopped {
		return // the router is stopping its children with it
	}
	topic := m.GetTopic()
	if len(m.GetBackoffs()) > 0 && (r.backoffs[topic] != nil || len(r.backoffs) < r.cfg.MaxTopics) {
		kept := r.backoffs[topic]
		if kept == nil {
			kept = map[peer.ID]time.Time{}
			r.backoffs[topic] = kept
		}
		for _, b := range m.GetBackoffs() {
			if len(kept) >= r.cfg.Mesh.MaxBackoff {
				r.m.refused.WithLabelValues("backoff_store_full").Inc()
				break
			}
			if until := b.GetUntil().AsTime(); until.After(kept[peer.ID(b.GetPeer())]) {
				kept[peer.ID(b.GetPeer())] = until
			}
		}
	}
	// The actor that sent it (TopicRetired is a Request, so we know) is
	// being retired, or failed: its Terminated, a system message, may come
	// before or after this.
	from := c.Sender()
	if ts := r.topics[topic]; ts != nil && from != nil && ts.pid.GetId() == from.GetId() {
		r.topicFailed(c, topic, ts)
	}
	if st := r.stopping[topic]; st != nil && !st.retired && (from == nil || st.pid.GetId() == from.GetId()) {
		st.retired = true
		r.topicGone(c, topic, st)
	}
}

// topicFailed takes a topic actor that stopped without being retired (its
// supervisor stopped it after a panic) out of the topics; once terminated
// and retired it is respawned if it was joined.
func (r *routerActor) topicFailed(c actor.Context, topic string, ts *topicState) {
	r.log.Error("topic actor stopped unexpectedly: respawning it", "topic", topic, "joined", ts.joined)
	delete(r.topics, topic)
	st := &stoppingTopic{pid: ts.pid}
	if ts.joined {
		st.respawn = ts // a publish-only actor is simply spawned again by the next Publish
	}
	r.stopping[topic] = st
	r.announce(c)
}

// expireBackoffs drops the kept backoffs that ended.
func (r *routerActor) expireBackoffs() {
	for topic, kept := range r.backoffs {
		for id, until := range kept {
			if !r.now.Before(until) {
				delete(kept, id)
			}
		}
		if len(kept) == 0 {
			delete(r.backoffs, topic)
		}
	}
}

// childStopped handles the Terminated of a child: a topic actor being
// retired; a topic actor or session that failed (the supervisor stopped
// it); or a session the router stopped (nothing to do).
func (r *routerActor) childStopped(c actor.Context, who *actor.PID) {
	if r.stopped {
		return
	}
	for topic, st := range r.stopping {
		if st.pid.GetId() == who.GetId() {
			st.terminated, st.terminatedAt = true, r.heartbeats
			r.topicGone(c, topic, st)
			return
		}
	}
	for topic, ts := range r.topics {
		if ts.pid.GetId() == who.GetId() {
			r.topicFailed(c, topic, ts)
			st := r.stopping[topic]
			st.terminated, st.terminatedAt = true, r.heartbeats
			return
		}
	}
	for id, pid := range r.sessions {
		if pid.GetId() == who.GetId() {
			// Its Stopping sent its PeerLefts; restart it at the next
			// heartbeats if the peer is still connected.
			r.log.Error("session stopped unexpectedly: restarting it", "peer", id)
			r.dropPeer(c, id, false)
			if _, ok := r.retry[id]; !ok {
				r.retry[id] = 0
			}
			return
		}
	}
}

// topicGone finishes a stopping topic once its actor has terminated and
// handed over its backoffs: a failed actor that was in use is respawned (and
// re-joined); then the Joins and Publishes that waited run.
func (r *routerActor) topicGone(c actor.Context, topic string, st *stoppingTopic) {
	if !st.terminated || !st.retired {
		return
	}
	delete(r.stopping, topic)
	if st.respawn != nil {
		ts, err := r.spawnTopic(c, topic, st.respawn.cfg)
		if err != nil {
			r.log.Error("respawn topic actor", "topic", topic, "err", err)
		} else {
			ts.joined = st.respawn.joined
			r.announce(c, topic)
			if ts.joined {
				c.Send(ts.pid, &pubsubv1.Join{Topic: topic})
			}
		}
	}
	pending := r.pending[topic]
	delete(r.pending, topic)
	for _, p := range pending {
		r.runHeld(c, p)
	}
}

// leave unjoins the topic: its actor prunes its mesh, answers and stays
// (with its backoffs) until it is idle and retired.
func (r *routerActor) leave(c actor.Context, m *pubsubv1.Leave) {
	ts := r.topics[m.GetTopic()]
	if ts == nil || !ts.joined {
		c.Respond(&pubsubv1.Left{Topic: m.GetTopic(), Error: "not joined"})
		return
	}
	ts.joined = false
	r.announce(c)
	c.RequestWithCustomSender(ts.pid, m, c.Sender())
}

func (r *routerActor) publish(c actor.Context, m *pubsubv1.Publish) { r.publishFor(c, m, c.Sender()) }

// publishFor publishes on behalf of sender (the caller, or a held request's).
func (r *routerActor) publishFor(c actor.Context, m *pubsubv1.Publish, sender *actor.PID) {
	fail := func(reason string, err error) {
		r.m.refused.WithLabelValues(reason).Inc()
		reply(c, sender, &pubsubv1.Published{Topic: m.GetTopic(), Error: err.Error()})
	}
	if n := len(m.GetData()); n > r.cfg.MaxMessageSize {
		fail("message_too_large", fmt.Errorf("router: message of %d bytes exceeds MaxMessageSize %d", n, r.cfg.MaxMessageSize))
		return
	}
	msg := &gossipsubv1.Message{Topic: proto.String(m.GetTopic()), Data: m.GetData()}
	if r.signer != nil {
		if err := r.signer.Sign(msg); err != nil {
			fail("sign", fmt.Errorf("router: %w", err))
			return
		}
	}
	id, err := messageID(r.msgID(m.GetTopic()), msg)
	if err != nil {
		fail("message_id", fmt.Errorf("router: %w", err))
		return
	}
	ts := r.topics[m.GetTopic()]
	if _, stopping := r.stopping[m.GetTopic()]; ts == nil && stopping {
		if !r.hold(m.GetTopic(), m, sender) {
			fail("topic", fmt.Errorf("router: topic %q is still being retired; retry", m.GetTopic()))
		}
		return
	}
	if ts == nil {
		if ts, err = r.spawnTopic(c, m.GetTopic(), r.cfg.Mesh); err != nil {
			fail("topic", err)
			return
		}
		r.announce(c, m.GetTopic())
	}
	r.toTopic(c, m.GetTopic(), ts.pid, &pubsubv1.PublishLocal{Message: &pubsubv1.IdentifiedMessage{Id: id, Message: msg}}, sender)
}

// forward passes a topic request to its actor with the caller as sender, or
// answers notJoined (with an error) when the topic has no actor.
func (r *routerActor) forward(c actor.Context, topic string, notJoined proto.Message) {
	if ts := r.topics[topic]; ts != nil {
		c.RequestWithCustomSender(ts.pid, c.Message(), c.Sender())
		return
	}
	r.notJoined(c, topic, notJoined)
}

// notJoined answers a topic request with notJoined carrying an error.
func (r *routerActor) notJoined(c actor.Context, topic string, notJoined proto.Message) {
	if c.Sender() == nil {
		return
	}
	msg := proto.Clone(notJoined)
	if f := msg.ProtoReflect().Descriptor().Fields().ByName("error"); f != nil {
		msg.ProtoReflect().Set(f, protoreflect.ValueOfString(fmt.Sprintf("topic %q not joined", topic)))
	}
	c.Respond(msg)
}

func (r *routerActor) explainAll() *pubsubv1.Scores {
	out := &pubsubv1.Scores{}
	for _, id := range r.book.PeerIDs() {
		b, _ := r.book.Explain(id)
		ps := &pubsubv1.PeerScore{Peer: []byte(id), Score: b.Total, TopicScore: b.TopicCapped,
			AppSpecific: b.P5, IpColocation: b.P6, Behaviour: b.P7}
		for _, t := range b.Topics {
			ps.Topics = append(ps.Topics, &pubsubv1.TopicScore{Topic: t.Topic, TimeInMesh: t.P1, FirstDeliveries: t.P2,
				MeshDeliveries: t.P3, MeshFailurePenalty: t.P3b, InvalidMessages: t.P4, Total: t.Total})
		}
		out.Peers = append(out.Peers, ps)
	}
	return out
}

// outbound reports whether we dialed a connection to id.
func (r *routerActor) outbound(id peer.ID) bool {
	for _, conn := range r.deps.Host.Network().ConnsToPeer(id) {
		if conn.Stat().Direction == network.DirOutbound {
			return true
		}
	}
	return false
}

// peerIPs returns the remote IP addresses of the host's connections to id.
func (r *routerActor) peerIPs(id peer.ID) []netip.Addr {
	var ips []netip.Addr
	for _, conn := range r.deps.Host.Network().ConnsToPeer(id) {
		if ip, err := manet.ToIP(conn.RemoteMultiaddr()); err == nil {
			if a, ok := netip.AddrFromSlice(ip); ok {
				ips = append(ips, a.Unmap())
			}
		}
	}
	return ips
}
