package mesh

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router/session"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/seedrand"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

// Props returns the props of the topic actor of deps.Topic. The router
// spawns it as its child "topic/<topic>" (sessions address it by that name)
// and is its parent: penalties and per-heartbeat reports go to the parent;
// sends go to the sibling sessions "peer/<id>".
//
// Accepts: Join, Leave (the actor stays, unjoined, with its backoffs, until
// the router retires it), RetireTopic (it stops), PeerSubscriptions and
// PeerLeft (from the peer's session only: ADR 0012), ReceivedMessages,
// ReceivedControl, InvalidMessagesReceived, PublishLocal (answers
// Published), ScoresSnapshot, TopicTick (the router's heartbeat: now and
// scores; a bare heartbeatv1.Tick is taken too), Subscribe/Unsubscribe and
// RegisterValidator (the sender is the subscriber / validator; the router
// forwards them with the original sender), GetMesh (answers Mesh). Emits to
// its parent TopicReport after each Tick (idle when it may be retired) and,
// from Stopping whatever stopped it, TopicRetired with its backoffs.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	load := newMailboxLoad(cfg.MaxMailbox)
	return actorkit.Props(func() actor.Actor { a := newTopicActor(cfg, deps); a.load = load; return a },
		append([]actor.PropsOption{actor.WithMailbox(load.producer())}, opts...)...)
}

type topicActor struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	core  *Topic
	topic *string
	clock *tickClock

	load        *mailboxLoad // shared with the actor's bounded mailbox
	dropped     uint64       // mailbox drops at the last heartbeat
	subscribers map[string]*actor.PID
	validator   *actor.PID
	sessions    map[peer.ID]*actor.PID
	stats       Stats
	observed    bool // stats were published to the metrics once

	// scratch, reused across calls
	out         map[peer.ID]*pubsubv1.SendToPeer // control and forwarded messages
	publishOut  map[peer.ID]*pubsubv1.SendToPeer // our own publishes
	gossipOut   map[peer.ID]*pubsubv1.SendToPeer // messages sent as gossip (IWANT replies)
	prio        pubsubv1.Priority                // of the effects being executed
	validations []Validation
	scores      map[peer.ID]float64
	applied     *pubsubv1.ScoresSnapshot // the scores last applied
	counters    []CounterReport
	reported    map[peer.ID]*reportedCounters // what the router has of each peer
	reports     uint64                        // heartbeats reported
	tickNow     *timestamppb.Timestamp        // the TopicTick's now, while it is handled
	handled     int                           // messages handled since the last flush
	known       *KnownIDs                     // Deps.Known when SeenTTL allows it, else nil

	// publish admission (ADR 0030), on the local-I/O clock (Deps.Clock)
	admission *Admission[heldPublishReq]
	congested map[peer.ID]struct{} // peers whose session reports a congested queue
	admStats  AdmissionStats       // as last published to the metrics
	admTimer  *time.Timer          // armed while publishes are held
	released  []heldPublishReq
}

// heldPublishReq is a publish waiting for admission and whom to answer.
type heldPublishReq struct {
	msg    *pubsubv1.PublishLocal
	sender *actor.PID
}

func newTopicActor(cfg Config, deps Deps) *topicActor {
	if deps.ValidationTimeout <= 0 {
		deps.ValidationTimeout = DefaultValidationTimeout
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = seedrand.New()
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	var known *KnownIDs
	if deps.Known != nil && cfg.SeenTTL >= 4*deps.Known.Window() {
		known = deps.Known
	}
	return &topicActor{
		cfg: cfg, deps: deps, log: log.With("topic", deps.Topic), topic: proto.String(deps.Topic), known: known,
		subscribers: map[string]*actor.PID{}, sessions: map[peer.ID]*actor.PID{}, congested: map[peer.ID]struct{}{},
		out: map[peer.ID]*pubsubv1.SendToPeer{}, publishOut: map[peer.ID]*pubsubv1.SendToPeer{},
		gossipOut: map[peer.ID]*pubsubv1.SendToPeer{},
		scores:    map[peer.ID]float64{},
		reported:  map[peer.ID]*reportedCounters{},
	}
}

func (a *topicActor) Receive(c actor.Context) {
	if a.core == nil {
		if _, ok := c.Message().(*actor.Started); !ok {
			return
		}
		core, err := NewTopic(a.deps.Topic, a.cfg, a.deps.Rand)
		if err != nil {
			a.log.Error("topic actor cannot start", "err", err)
			c.Stop(c.Self())
			return
		}
		a.core = core
		a.clock = newTickClock(a.deps.Now, a.deps.HeartbeatInterval, a.deps.Clock)
		a.admission = NewAdmission[heldPublishReq](a.cfg.Admission)
		for id, until := range a.deps.Backoffs {
			core.RestoreBackoff(id, until)
		}
		return
	}
	a.handle(c)
	a.handled++
	// Batch per activation (ADR 0021): while more messages wait in the
	// mailbox, what this one produced stays collected per peer and leaves
	// with theirs, one SendToPeer per peer for the whole run of messages
	// (at most maxBatch), so a burst costs each session one mailbox post
	// and one activation instead of one per received message.
	if _, stopping := c.Message().(*actor.Stopping); stopping || a.load == nil ||
		a.load.depth.Load() == 0 || a.handled >= maxBatch {
		a.flush(c)
	}
}

// maxBatch bounds the messages whose sends one flush collects.
const maxBatch = 64

func (a *topicActor) handle(c actor.Context) {
	switch m := c.Message().(type) {
	case *pubsubv1.ReceivedMessages:
		a.messages(c, m)
	case *pubsubv1.ReceivedControl:
		a.control(c, m)
	case *pubsubv1.InvalidMessagesReceived:
		a.core.ChargeInvalid(a.clock.now(), peer.ID(m.GetPeer()), int(m.GetCount()))
	case *pubsubv1.PublishLocal:
		a.offer(c, m)
	case *pubsubv1.PeerCongestion:
		if id := peer.ID(m.GetPeer()); m.GetCongested() {
			a.congested[id] = struct{}{}
		} else {
			delete(a.congested, id)
		}
		a.signal()
		a.release(c, a.deps.Clock())
	case *pubsubv1.AdmitHeld:
		a.admTimer = nil
		a.release(c, a.deps.Clock())
	case *pubsubv1.PeerSubscriptions:
		a.peerSubscriptions(m)
	case *pubsubv1.PeerLeft:
		a.removePeer(peer.ID(m.GetPeer()))
	case *pubsubv1.ScoresSnapshot:
		a.setScores(m)
	case *pubsubv1.TopicTick:
		// The router shares one snapshot between heartbeats while no score
		// changes: applied once (ADR 0026).
		if m.GetScores() != a.applied {
			a.setScores(m.GetScores())
		}
		now := a.clock.tick(m.GetNow().AsTime())
		if now.Equal(m.GetNow().AsTime()) {
			a.tickNow = m.GetNow() // shared, read-only: the report carries it
		}
		a.heartbeat(c, now)
		a.tickNow = nil
	case *heartbeatv1.Tick:
		a.heartbeat(c, a.clock.tick(m.GetNow().AsTime()))
	case *pubsubv1.Join:
		a.exec(c, a.core.Join(a.clock.now()), pubsubv1.Priority_PRIORITY_FORWARD)
		a.respond(c, &pubsubv1.Joined{Topic: a.deps.Topic})
	case *pubsubv1.Leave:
		// The actor stays, unjoined: its backoffs (and seen cache) must
		// outlive the Leave, or a quick re-Join grafts peers that then PRUNE
		// us and charge P7. The router retires it once idle.
		a.exec(c, a.core.Leave(a.clock.now()), pubsubv1.Priority_PRIORITY_FORWARD)
		// Subscribers and validator belong to the membership that ended; a
		// re-Join starts without them, as a new actor would.
		clear(a.subscribers)
		a.validator = nil
		a.respond(c, &pubsubv1.Left{Topic: a.deps.Topic})
	case *pubsubv1.RetireTopic:
		c.Stop(c.Self())
	case *pubsubv1.Subscribe:
		if c.Sender() != nil {
			a.subscribers[c.Sender().String()] = c.Sender()
		}
		a.respond(c, &pubsubv1.Subscribed{Topic: a.deps.Topic})
	case *pubsubv1.Unsubscribe:
		if c.Sender() != nil {
			delete(a.subscribers, c.Sender().String())
		}
		a.respond(c, &pubsubv1.Unsubscribed{Topic: a.deps.Topic})
	case *pubsubv1.RegisterValidator:
		a.validator = c.Sender()
		a.respond(c, &pubsubv1.ValidatorRegistered{Topic: a.deps.Topic})
	case *pubsubv1.GetMesh:
		a.respond(c, &pubsubv1.Mesh{Topic: a.deps.Topic, Mesh: peerBytes(a.core.MeshPeers()),
			Fanout: peerBytes(a.core.FanoutPeers()), Peers: a.topicPeers()})
	case *actor.Stopping:
		// Held publishes were promised an answer: they go out now.
		a.admitAll(c, a.admission.Drain(a.released[:0]))
		if a.admTimer != nil {
			a.admTimer.Stop()
		}
		st := a.admission.Stats()
		st.Congested = false // this topic leaves the gauge
		a.deps.Metrics.admitted(a.admStats, st)
		a.retired(c)
	}
}

func (a *topicActor) setScores(m *pubsubv1.ScoresSnapshot) {
	clear(a.scores)
	for k, v := range m.GetScores() {
		a.scores[peer.ID(k)] = v
	}
	a.core.SetScores(a.scores)
	a.applied = m
}

func (a *topicActor) respond(c actor.Context, msg proto.Message) {
	if c.Sender() != nil {
		c.Respond(msg)
	}
}

func (a *topicActor) topicPeers() [][]byte {
	out := make([][]byte, 0, len(a.core.order))
	for _, ps := range a.core.order {
		out = append(out, []byte(ps.ID))
	}
	return out
}

func peerBytes(ids []peer.ID) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = []byte(id)
	}
	return out
}

func featuresOf(p string) Features {
	f := wire.FeaturesOf(protocol.ID(p))
	return Features{PX: f.PX, Backoff: f.Backoff, IDontWant: f.IDontWant}
}

func (a *topicActor) peerSubscriptions(m *pubsubv1.PeerSubscriptions) {
	id := peer.ID(m.GetPeer())
	for _, sub := range m.GetSubscriptions() {
		if sub.GetTopicid() != a.deps.Topic {
			continue
		}
		if !sub.GetSubscribe() {
			a.removePeer(id)
			continue
		}
		a.core.AddPeer(a.clock.now(), PeerAttrs{ID: id, Outbound: m.GetOutbound(),
			Features: featuresOf(m.GetProtocol()), Score: a.scores[id]})
	}
}

// retired hands the backoffs to the router, whatever stopped the actor (a
// RetireTopic, a panic, the router stopping): the router keeps them for the
// topic's next actor.
func (a *topicActor) retired(c actor.Context) {
	a.deps.Metrics.forget(a.deps.Topic, a.stats)
	now := a.clock.now()
	kept := map[peer.ID]time.Time{}
	a.core.Backoffs(now, kept)
	msg := &pubsubv1.TopicRetired{Topic: a.deps.Topic, Backoffs: make([]*pubsubv1.Backoff, 0, len(kept))}
	for id, until := range kept {
		msg.Backoffs = append(msg.Backoffs, &pubsubv1.Backoff{Peer: []byte(id), Until: timestamppb.New(until)})
	}
	c.Request(c.Parent(), msg) // a Request: the router matches the sender with the actor it knows
}

func (a *topicActor) removePeer(id peer.ID) {
	a.core.RemovePeer(a.clock.now(), id)
	delete(a.sessions, id)
	delete(a.congested, id)
}

func (a *topicActor) messages(c actor.Context, m *pubsubv1.ReceivedMessages) {
	now := a.clock.now()
	from := peer.ID(m.GetPeer())
	for _, im := range m.GetMessages() {
		id := MessageID(im.GetId())
		msg := im.GetMessage()
		if msg == nil { // a known copy (KnownIDs): its id only
			a.exec(c, a.core.HandleMessage(now, from, id, nil), pubsubv1.Priority_PRIORITY_FORWARD)
			continue
		}
		seen := a.core.HasSeen(id)
		if a.deps.Verify != nil && !seen {
			if err := a.deps.Verify(im.GetMessage()); err != nil {
				// Not marked seen (the genuine message may follow); charged
				// as the session charges the messages it refuses.
				if a.deps.Refused != nil {
					a.deps.Refused("invalid_message", 1)
				}
				a.core.ChargeInvalid(now, from, 1)
				a.log.Debug("message refused", "from", from, "err", err)
				continue
			}
		}
		a.exec(c, a.core.HandleMessage(now, from, id, msg), pubsubv1.Priority_PRIORITY_FORWARD)
		if !seen && a.known != nil { // HandleMessage marked it seen
			a.known.Add(a.deps.Topic, id)
		}
	}
}

func (a *topicActor) control(c actor.Context, m *pubsubv1.ReceivedControl) {
	now := a.clock.now()
	from := peer.ID(m.GetPeer())
	for range m.GetGraft() {
		a.exec(c, a.core.HandleGraft(now, from), pubsubv1.Priority_PRIORITY_FORWARD)
	}
	for _, p := range m.GetPrune() {
		a.exec(c, a.core.HandlePrune(now, from, p), pubsubv1.Priority_PRIORITY_FORWARD)
	}
	for _, ih := range m.GetIhave() {
		// The session already applied the peer's IHAVE budget.
		a.exec(c, a.core.HandleIHave(now, from, ih.GetMessageIDs(), len(ih.GetMessageIDs())), pubsubv1.Priority_PRIORITY_GOSSIP)
	}
	if ids := m.GetIwant(); len(ids) > 0 {
		a.exec(c, a.core.HandleIWant(now, from, ids), pubsubv1.Priority_PRIORITY_GOSSIP)
	}
}

// offer passes a publish through admission (ADR 0030): published now,
// held until the node is healthy again (or MaxHold), or refused with
// ErrAdmissionFull when the admission queue is full.
func (a *topicActor) offer(c actor.Context, m *pubsubv1.PublishLocal) {
	req := heldPublishReq{msg: m, sender: c.Sender()}
	t := a.deps.Clock()
	a.signal() // the mesh may have changed since the last report
	switch a.admission.Offer(t, req) {
	case Admit:
		a.publish(c, req)
	case Hold:
		a.arm(c, t)
	case Refuse:
		a.answer(c, req.sender, &pubsubv1.Published{Topic: a.deps.Topic, MessageId: m.GetMessage().GetId(), Error: ErrAdmissionFull.Error()})
	}
	a.admissionMetrics()
}

// release publishes the held publishes admission lets go at t and re-arms
// the timer for the rest.
func (a *topicActor) release(c actor.Context, t time.Time) {
	if a.admission.Stats().Holding == 0 {
		return
	}
	a.admitAll(c, a.admission.Release(t, a.released[:0]))
	a.arm(c, t)
	a.admissionMetrics()
}

// signal gives admission the congested share of the mesh. A peer outside
// the mesh carries no forwards of ours: its queue does not count.
func (a *topicActor) signal() {
	if !a.admission.Enabled() {
		return
	}
	n := 0
	for id := range a.congested {
		if a.core.InMesh(id) {
			n++
		}
	}
	a.admission.Signal(n, a.core.meshSize())
}

func (a *topicActor) admitAll(c actor.Context, reqs []heldPublishReq) {
	for i, r := range reqs {
		a.publish(c, r)
		reqs[i] = heldPublishReq{}
	}
	a.released = reqs[:0]
}

// arm starts the timer that admits the oldest held publish at MaxHold,
// unless one is armed or nothing is held. The timer's message is the only
// way the timer acts on the actor.
func (a *topicActor) arm(c actor.Context, t time.Time) {
	d, ok := a.admission.Due(t)
	if !ok || a.admTimer != nil {
		return
	}
	self, root := c.Self(), c.ActorSystem().Root
	a.admTimer = time.AfterFunc(d, func() { root.Send(self, &pubsubv1.AdmitHeld{}) })
}

func (a *topicActor) admissionMetrics() {
	if st := a.admission.Stats(); st != a.admStats {
		a.deps.Metrics.admitted(a.admStats, st)
		a.admStats = st
	}
}

func (a *topicActor) answer(c actor.Context, to *actor.PID, msg proto.Message) {
	if to != nil {
		c.Send(to, msg)
	}
}

func (a *topicActor) publish(c actor.Context, req heldPublishReq) {
	m := req.msg
	im := m.GetMessage()
	id := MessageID(im.GetId())
	fx := a.core.Publish(a.clock.now(), id, im.GetMessage())
	peers := 0
	for _, s := range fx.Sends {
		peers += len(s.To)
	}
	// Our own publishes have a lane of their own in the session's queue,
	// above forwards and without their age limit: no other node has the
	// message yet, so one shed here is lost (ADR 0024).
	a.exec(c, fx, pubsubv1.Priority_PRIORITY_PUBLISH)
	if a.core.Joined() {
		a.deliver(c, &pubsubv1.Delivered{Topic: a.deps.Topic, MessageId: im.GetId(), Message: im.GetMessage()})
	}
	a.answer(c, req.sender, &pubsubv1.Published{Topic: a.deps.Topic, MessageId: im.GetId(), Peers: uint32(peers)})
}

func (a *topicActor) heartbeat(c actor.Context, now time.Time) {
	var high int64
	var dropMsgs, dropGossip uint64
	if a.load != nil {
		high, dropMsgs, dropGossip = a.load.sample()
		if d := dropMsgs + dropGossip; d > a.dropped {
			a.dropped = d
			a.core.Overloaded(now)
		}
	}
	a.exec(c, a.core.Heartbeat(now), pubsubv1.Priority_PRIORITY_GOSSIP)
	if len(a.congested) > 0 || a.admission.Stats().Holding > 0 {
		a.signal() // the heartbeat may have changed the mesh
		a.release(c, a.deps.Clock())
	}
	report := a.counterReport(now)
	st := a.core.Stats()
	st.MailboxDepth, st.MailboxDropped, st.MailboxDroppedGossip = int(high), dropMsgs, dropGossip
	report.Mesh, report.Fanout = uint32(st.MeshPeers), uint32(st.FanoutPeers)
	report.Idle = a.core.Idle(now)
	a.deps.Metrics.observe(a.deps.Topic, a.stats, st, !a.observed)
	a.stats, a.observed = st, true
	// The report goes last: whoever reads it may read the gauges next.
	c.Send(c.Parent(), report)
}

// reportedCounters is a peer's counters as last reported to the router, and
// the heartbeat that last saw the peer.
type reportedCounters struct {
	c    score.TopicCounters
	seen uint64
}

// counterReport returns the heartbeat's report with the counters that
// changed since the last one (ADR 0029): an idle topic's report carries no
// peer. P1's time in mesh changes every heartbeat but is no change: the
// router derives it from the graft time and the report's now, exactly as
// Refresh does here.
func (a *topicActor) counterReport(now time.Time) *pubsubv1.TopicReport {
	a.reports++
	at := a.tickNow
	if at == nil {
		at = timestamppb.New(now)
	}
	report := &pubsubv1.TopicReport{Topic: a.deps.Topic, Now: at, Full: a.reports == 1}
	a.counters = a.core.AppendCounters(a.counters[:0])
	for _, r := range a.counters {
		last := a.reported[r.Peer]
		if last == nil {
			last = &reportedCounters{}
			a.reported[r.Peer] = last
		} else if last.seen == a.reports-1 && sameCounters(&last.c, &r.Counters) {
			last.seen = a.reports
			continue
		}
		last.c, last.seen = r.Counters, a.reports
		report.Peers = append(report.Peers, countersProto(r))
	}
	for id, last := range a.reported {
		if last.seen != a.reports {
			delete(a.reported, id)
			report.Peers = append(report.Peers, &pubsubv1.TopicPeerCounters{Peer: []byte(id), Removed: true})
		}
	}
	return report
}

// sameCounters reports whether the router's copy x of a peer's counters
// scores as y: equal but for the time in mesh while in the mesh (derived
// from the graft time).
func sameCounters(x, y *score.TopicCounters) bool {
	return x.InMesh == y.InMesh && x.GraftTime.Equal(y.GraftTime) && (x.InMesh || x.MeshTime == y.MeshTime) &&
		x.FirstMessageDeliveries == y.FirstMessageDeliveries && x.MeshMessageDeliveries == y.MeshMessageDeliveries &&
		x.MeshMessageDeliveriesActive == y.MeshMessageDeliveriesActive && x.MeshFailurePenalty == y.MeshFailurePenalty &&
		x.InvalidMessageDeliveries == y.InvalidMessageDeliveries
}

// exec carries out one Effects in its documented order. Sends to peers are
// collected per peer and leave in flush, once per run of handled messages
// (Receive): everything for one peer (the IDONTWANT sent before validation,
// the forward after a synchronous accept, the messages of several RPCs) goes
// out as one SendToPeer, which the session queues together and writes in one
// frame.
func (a *topicActor) exec(c actor.Context, fx *Effects, prio pubsubv1.Priority) {
	a.prio = prio
	for _, p := range fx.Penalties {
		c.Send(c.Parent(), &pubsubv1.PeerBehaviourPenalty{Peer: []byte(p.Peer), Penalty: p.Amount, Reason: p.Reason.String()})
	}
	for _, p := range fx.Prunes {
		pr := &gossipsubv1.ControlPrune{TopicID: a.topic, Backoff: proto.Uint64(uint64(p.Backoff / time.Second))}
		for _, px := range p.PX {
			info := &gossipsubv1.PeerInfo{PeerID: []byte(px)}
			if a.deps.PeerRecord != nil {
				if rec := a.deps.PeerRecord(px); rec != nil {
					info.SignedPeerRecord = rec
				}
			}
			pr.Peers = append(pr.Peers, info)
		}
		ctl := a.controlOf(p.To)
		ctl.Prune = append(ctl.Prune, pr)
	}
	if len(fx.Grafts) > 0 {
		g := &gossipsubv1.ControlGraft{TopicID: a.topic}
		for _, to := range fx.Grafts {
			ctl := a.controlOf(to)
			ctl.Graft = append(ctl.Graft, g)
		}
	}
	for _, d := range fx.IDontWants {
		e := &gossipsubv1.ControlIDontWant{MessageIDs: [][]byte{[]byte(d.ID)}}
		for _, to := range d.To {
			ctl := a.controlOf(to)
			ctl.Idontwant = append(ctl.Idontwant, e)
		}
	}
	for _, s := range fx.Sends {
		im := &pubsubv1.IdentifiedMessage{Id: []byte(s.ID), Message: s.Msg}
		for _, to := range s.To {
			cmd := a.msgCmd(to)
			cmd.Messages = append(cmd.Messages, im)
		}
	}
	for _, w := range fx.IWants {
		iw := &gossipsubv1.ControlIWant{MessageIDs: idBytes(w.IDs)}
		ctl := a.controlOf(w.To)
		ctl.Iwant = append(ctl.Iwant, iw)
	}
	for _, h := range fx.IHaves {
		ih := &gossipsubv1.ControlIHave{TopicID: a.topic, MessageIDs: idBytes(h.IDs)}
		for _, to := range h.To {
			ctl := a.controlOf(to)
			ctl.Ihave = append(ctl.Ihave, ih)
		}
	}
	for _, d := range fx.Deliveries {
		a.deliver(c, &pubsubv1.Delivered{Topic: a.deps.Topic, MessageId: []byte(d.ID), Message: d.Msg, ReceivedFrom: []byte(d.From)})
	}
	for _, px := range fx.PeerExchange {
		c.Send(c.Parent(), &pubsubv1.PeerExchangeReceived{Topic: a.deps.Topic, From: []byte(px.From), Peers: px.Peers})
	}
	if len(fx.Validations) == 0 {
		return
	}
	// The core reuses fx on the next call: take the validations out first.
	vs := append(a.validations[:0], fx.Validations...)
	a.validations = vs[:0]
	for _, v := range vs {
		a.validate(c, v)
	}
}

// controlOf is the ControlMessage being built for peer to in this exec.
func (a *topicActor) controlOf(to peer.ID) *gossipsubv1.ControlMessage {
	cmd := a.cmd(to)
	if cmd.Control == nil {
		cmd.Control = &gossipsubv1.ControlMessage{}
	}
	return cmd.Control
}

// cmd is the SendToPeer being built for peer to: its control parts (the
// session queues those by kind, in the order they were added) and the
// messages forwarded or published.
func (a *topicActor) cmd(to peer.ID) *pubsubv1.SendToPeer {
	cmd := a.out[to]
	if cmd == nil {
		cmd = &pubsubv1.SendToPeer{Priority: pubsubv1.Priority_PRIORITY_FORWARD}
		a.out[to] = cmd
	}
	return cmd
}

// msgCmd is the SendToPeer for messages of the current exec's priority:
// our own publishes and messages sent as gossip (IWANT replies) travel
// apart from forwards, so a batch of them keeps each at its own priority and
// age limit.
func (a *topicActor) msgCmd(to peer.ID) *pubsubv1.SendToPeer {
	var apart map[peer.ID]*pubsubv1.SendToPeer
	switch a.prio {
	case pubsubv1.Priority_PRIORITY_GOSSIP:
		apart = a.gossipOut
	case pubsubv1.Priority_PRIORITY_PUBLISH:
		apart = a.publishOut
	default:
		return a.cmd(to)
	}
	cmd := apart[to]
	if cmd == nil {
		cmd = &pubsubv1.SendToPeer{Priority: a.prio}
		apart[to] = cmd
	}
	return cmd
}

// flush sends what exec collected: per peer its control and forwards, then
// its own publishes, then its gossip replies.
func (a *topicActor) flush(c actor.Context) {
	a.handled = 0
	for _, out := range []map[peer.ID]*pubsubv1.SendToPeer{a.out, a.publishOut, a.gossipOut} {
		for to, cmd := range out {
			c.Send(a.session(c, to), cmd)
		}
		clear(out)
	}
}

func (a *topicActor) session(c actor.Context, id peer.ID) *actor.PID {
	pid := a.sessions[id]
	if pid == nil {
		pid = session.PeerPID(c.Parent(), id.String())
		a.sessions[id] = pid
	}
	return pid
}

func idBytes(ids []MessageID) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = []byte(id)
	}
	return out
}

func (a *topicActor) deliver(c actor.Context, d *pubsubv1.Delivered) {
	for _, pid := range a.subscribers {
		c.Send(pid, d)
	}
}

// validate runs Deps.Validate, then asks the registered validator actor, or
// accepts at once when there is none. The answer (or its absence within ValidationTimeout, which
// counts as IGNORE) re-enters this actor's mailbox.
func (a *topicActor) validate(c actor.Context, v Validation) {
	if a.deps.Validate != nil {
		if res, label := a.deps.Validate(v.Msg, a.clock.now()); res != ValidationAccept {
			a.decide(c, v.ID, res, label)
			return
		}
	}
	if a.validator == nil {
		a.decide(c, v.ID, ValidationAccept, "accept")
		return
	}
	req := &pubsubv1.ValidateMessage{Topic: a.deps.Topic, MessageId: []byte(v.ID), Message: v.Msg, ReceivedFrom: []byte(v.From)}
	id := v.ID
	actorkit.Ask(c, a.validator, req, a.deps.ValidationTimeout, func(res any, err error) {
		defer a.flush(c)
		r, ok := res.(*pubsubv1.ValidationResult)
		switch {
		case err != nil || !ok:
			a.decide(c, id, ValidationIgnore, "timeout")
		case r.GetOutcome() == pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT:
			a.decide(c, id, ValidationAccept, "accept")
		case r.GetOutcome() == pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_REJECT:
			a.decide(c, id, ValidationReject, "reject")
		default:
			a.decide(c, id, ValidationIgnore, "ignore")
		}
	})
}

func (a *topicActor) decide(c actor.Context, id MessageID, res ValidationResult, label string) {
	a.deps.Metrics.validated(label)
	a.exec(c, a.core.HandleValidated(a.clock.now(), id, res), pubsubv1.Priority_PRIORITY_FORWARD)
}

func countersProto(r CounterReport) *pubsubv1.TopicPeerCounters {
	c := &r.Counters
	return &pubsubv1.TopicPeerCounters{
		Peer: []byte(r.Peer), InMesh: c.InMesh, MeshTime: durationpb.New(c.MeshTime),
		FirstMessageDeliveries: c.FirstMessageDeliveries, MeshMessageDeliveries: c.MeshMessageDeliveries,
		MeshMessageDeliveriesActive: c.MeshMessageDeliveriesActive, MeshFailurePenalty: c.MeshFailurePenalty,
		InvalidMessageDeliveries: c.InvalidMessageDeliveries, GraftTime: timestamppb.New(c.GraftTime),
	}
}
