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
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	return actorkit.Props(func() actor.Actor { return &routerActor{cfg: cfg, deps: deps} }, opts...)
}

// HeartbeatName is the name of the Tick the router registers for.
const HeartbeatName = "gossipsub"

type topicState struct {
	pid    *actor.PID
	joined bool
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
	sessions    map[peer.ID]*actor.PID
	topics      map[string]*topicState
	scores      map[peer.ID]float64
	failed      error
	// retry: peers whose session failed while still connected, with the
	// attempts made; retried at the next heartbeats (at most maxRetries).
	retry map[peer.ID]int
	// leaving: topics whose actor was asked to Leave and has not stopped;
	// pendingJoins: Joins of those topics, run when it has.
	leaving      map[string]*actor.PID
	pendingJoins map[string][]pendingJoin
	// heartbeats counts Ticks, to redial direct peers every DirectConnectTicks.
	heartbeats uint64
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
	case *pubsubv1.SessionStarted:
		r.sessionStarted(c, peer.ID(m.GetPeer()), m.GetProtocol())
	case *pubsubv1.PeerSubscriptions:
		r.peerSubscriptions(c, m)
	case *pubsubv1.TopicReport:
		r.report(m)
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
		r.topicStopped(c, m.GetWho())
	case *pubsubv1.Leave:
		r.leave(c, m)
	case *pubsubv1.Publish:
		r.publish(c, m)
	case *pubsubv1.Subscribe:
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
	r.leaving, r.pendingJoins = map[string]*actor.PID{}, map[string][]pendingJoin{}
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
		timeout: r.cfg.AcceptTimeout, framePenalty: r.cfg.PenaltyMalformedFrame, metrics: m.session, log: r.log, current: map[peer.ID]network.Stream{}}
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
	deps := session.Deps{Peer: id, Outbound: outbound, Opener: hostOpener{r.deps.Host}, Inspect: r.inspect,
		Metrics: r.m.session, Logger: r.log}
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
	c.Send(pid, &pubsubv1.LocalTopics{Topics: r.joinedTopics()})
	return true
}

// dropPeer stops the peer's session and takes it out of every topic; forget
// also drops what it announced (it disconnected), otherwise the book keeps
// its subscriptions for the restarted session.
func (r *routerActor) dropPeer(c actor.Context, id peer.ID, forget bool) {
	pid, ok := r.sessions[id]
	if ok {
		delete(r.sessions, id)
		c.Stop(pid)
		r.m.peers.Set(float64(len(r.sessions)))
	}
	topics := r.book.Topics(id)
	if forget {
		r.book.RemovePeer(id)
	}
	left := &pubsubv1.PeerLeft{Peer: []byte(id)}
	for _, t := range topics {
		if ts := r.topics[t]; ts != nil {
			c.Send(ts.pid, left)
		}
	}
}

// sessionStarted records the negotiated protocol and, for a restarted
// session, gives the topic actors back the peer's known subscriptions.
func (r *routerActor) sessionStarted(c actor.Context, id peer.ID, protocol string) {
	delete(r.retry, id)
	r.book.SetProtocol(id, protocol)
	outbound, _, _ := r.book.Peer(id)
	sub := true
	for _, t := range r.book.Topics(id) {
		if ts := r.topics[t]; ts != nil {
			c.Send(ts.pid, &pubsubv1.PeerSubscriptions{Peer: []byte(id), Outbound: outbound, Protocol: protocol,
				Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String(t), Subscribe: &sub}}})
		}
	}
}

func (r *routerActor) peerSubscriptions(c actor.Context, m *pubsubv1.PeerSubscriptions) {
	id := peer.ID(m.GetPeer())
	if !r.book.Has(id) {
		return
	}
	for _, sub := range m.GetSubscriptions() {
		r.book.Subscribe(id, sub.GetTopicid(), sub.GetSubscribe())
		// Idempotent in the topic actor; covers a topic joined while this
		// message was on its way (the session did not know the topic yet).
		if ts := r.topics[sub.GetTopicid()]; ts != nil {
			c.Send(ts.pid, &pubsubv1.PeerSubscriptions{Peer: m.GetPeer(), Subscriptions: []*gossipsubv1.SubOpts{sub},
				Outbound: m.GetOutbound(), Protocol: m.GetProtocol()})
		}
	}
}

func (r *routerActor) report(m *pubsubv1.TopicReport) {
	for _, pc := range m.GetPeers() {
		r.book.Report(m.GetTopic(), peer.ID(pc.GetPeer()), score.TopicCounters{
			InMesh: pc.GetInMesh(), MeshTime: pc.GetMeshTime().AsDuration(),
			FirstMessageDeliveries: pc.GetFirstMessageDeliveries(), MeshMessageDeliveries: pc.GetMeshMessageDeliveries(),
			MeshMessageDeliveriesActive: pc.GetMeshMessageDeliveriesActive(), MeshFailurePenalty: pc.GetMeshFailurePenalty(),
			InvalidMessageDeliveries: pc.GetInvalidMessageDeliveries(),
		})
	}
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
				r.book.RemovePeer(id)
			}
			continue
		}
		r.retry[id] = n + 1
		r.ensureSession(c, id, r.outbound(id))
	}
	changes := r.book.Heartbeat(tick.GetNow().AsTime(), r.scores)
	for _, ch := range changes {
		if pid := r.sessions[ch.Peer]; pid != nil {
			c.Send(pid, &pubsubv1.PeerStatus{Graylisted: ch.Graylisted, Score: ch.Score})
		}
		if ch.Graylisted {
			r.m.graylist.Inc()
		} else {
			r.m.graylist.Dec()
		}
	}
	snap := r.scoresSnapshot()
	for _, ts := range r.topics {
		c.Send(ts.pid, snap)
		c.Send(ts.pid, tick)
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

func (r *routerActor) joinedTopics() []string {
	var out []string
	for t, ts := range r.topics {
		if ts.joined {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func (r *routerActor) announce(c actor.Context) {
	lt := &pubsubv1.LocalTopics{Topics: r.joinedTopics()}
	for _, pid := range r.sessions {
		c.Send(pid, lt)
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

// spawnTopic starts the mesh actor of topic and tells it the peers already
// subscribed to it.
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
		Verify: verifier(r.cfg.Profile), Validate: validate, Refused: r.m.session.Dropped, PeerRecord: r.records.Get,
		Metrics: r.m.mesh, Logger: r.log}), "topic/"+topic)
	if err != nil {
		return nil, fmt.Errorf("router: spawn topic %q: %w", topic, err)
	}
	ts := &topicState{pid: pid}
	r.topics[topic] = ts
	r.book.SetTopicParams(topic, cfg.Score)
	sub := true
	for _, id := range r.book.PeersIn(topic) {
		outbound, protocol, _ := r.book.Peer(id)
		c.Send(pid, &pubsubv1.PeerSubscriptions{Peer: []byte(id), Outbound: outbound, Protocol: protocol,
			Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String(topic), Subscribe: &sub}}})
	}
	if len(r.scores) > 0 {
		c.Send(pid, r.scoresSnapshot())
	}
	return ts, nil
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

// maxPendingJoins bounds the Joins held for one topic whose previous actor
// is still stopping; more are refused with an error.
const maxPendingJoins = 16

type pendingJoin struct {
	join   *pubsubv1.Join
	sender *actor.PID
}

func reply(c actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		c.Send(to, msg)
	}
}

func (r *routerActor) join(c actor.Context, m *pubsubv1.Join, sender *actor.PID) {
	topic := m.GetTopic()
	if _, stopping := r.leaving[topic]; stopping {
		// The actor of a just-left topic has not stopped yet: its name is
		// still taken. Join once it has.
		if len(r.pendingJoins[topic]) >= maxPendingJoins {
			r.m.refused.WithLabelValues("pending_joins").Inc()
			reply(c, sender, &pubsubv1.Joined{Topic: topic, Error: "router: topic is still being left; retry"})
			return
		}
		r.pendingJoins[topic] = append(r.pendingJoins[topic], pendingJoin{m, sender})
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
	}
	ts.joined = true
	r.announce(c)
	c.RequestWithCustomSender(ts.pid, m, sender)
}

// topicStopped runs the Joins that waited for a left topic's actor to stop.
func (r *routerActor) topicStopped(c actor.Context, who *actor.PID) {
	for topic, pid := range r.leaving {
		if pid.GetId() != who.GetId() {
			continue
		}
		delete(r.leaving, topic)
		pending := r.pendingJoins[topic]
		delete(r.pendingJoins, topic)
		for _, p := range pending {
			r.join(c, p.join, p.sender)
		}
		return
	}
}

func (r *routerActor) leave(c actor.Context, m *pubsubv1.Leave) {
	ts := r.topics[m.GetTopic()]
	if ts == nil || !ts.joined {
		c.Respond(&pubsubv1.Left{Topic: m.GetTopic(), Error: "not joined"})
		return
	}
	delete(r.topics, m.GetTopic())
	r.leaving[m.GetTopic()] = ts.pid
	c.Watch(ts.pid)
	r.book.ForgetTopic(m.GetTopic())
	r.announce(c)
	c.RequestWithCustomSender(ts.pid, m, c.Sender()) // the topic prunes its mesh, answers and stops
}

func (r *routerActor) publish(c actor.Context, m *pubsubv1.Publish) {
	fail := func(reason string, err error) {
		r.m.refused.WithLabelValues(reason).Inc()
		c.Respond(&pubsubv1.Published{Topic: m.GetTopic(), Error: err.Error()})
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
	ts := r.topics[m.GetTopic()]
	if _, stopping := r.leaving[m.GetTopic()]; ts == nil && stopping {
		fail("topic", fmt.Errorf("router: topic %q is still being left; retry", m.GetTopic()))
		return
	}
	if ts == nil {
		var err error
		if ts, err = r.spawnTopic(c, m.GetTopic(), r.cfg.Mesh); err != nil {
			fail("topic", err)
			return
		}
	}
	c.RequestWithCustomSender(ts.pid, &pubsubv1.PublishLocal{Message: &pubsubv1.IdentifiedMessage{Id: r.msgID(m.GetTopic())(msg), Message: msg}}, c.Sender())
}

// forward passes a topic request to its actor with the caller as sender, or
// answers notJoined (with an error) when the topic has no actor.
func (r *routerActor) forward(c actor.Context, topic string, notJoined proto.Message) {
	if ts := r.topics[topic]; ts != nil {
		c.RequestWithCustomSender(ts.pid, c.Message(), c.Sender())
		return
	}
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
