package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TopicPID is the address of the mesh actor of topic under router: the
// router spawns it as the child "topic/<topic>", so sessions can address it
// without a PID travelling in a message.
func TopicPID(router *actor.PID, topic string) *actor.PID {
	return actor.NewPID(router.GetAddress(), router.GetId()+"/topic/"+topic)
}

// PeerPID is the address of the session of a peer under router (child
// "peer/<peer id>").
func PeerPID(router *actor.PID, peerKey string) *actor.PID {
	return actor.NewPID(router.GetAddress(), router.GetId()+"/peer/"+peerKey)
}

// Props returns the props of a session actor. It must be spawned as a child
// of the router (its parent receives SessionStarted/SessionClosed and the
// peer's subscriptions).
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) *actor.Props {
	return actorkit.Props(func() actor.Actor { return newSession(cfg, deps) }, append(deps.Metrics.mailboxOptions(), opts...)...)
}

type sessionActor struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	state *State
	peer  []byte

	out    chan []*gossipsubv1.RPC
	cancel context.CancelFunc
	opened bool
	// writerIdle is set by the writer goroutine when it finishes a batch and
	// read by the actor on every message, so that under load the next batch
	// leaves as soon as the writer is free instead of when WriteDone has
	// made its way through a long mailbox. Shared only with this actor's own
	// goroutine.
	writerIdle *atomic.Bool
	features   wire.Features
	protocol   string

	// localTopics are the topics we joined (announced to the peer; its
	// messages and control for them go to their actors); tracked are the
	// other topics with an actor (fanout, left): only membership and IWANT.
	localTopics map[string]bool
	tracked     map[string]bool
	// peerTopics are the topics the peer announced (this session owns that
	// fact: ADR 0012); introduced are the topic actors it has told that the
	// peer is subscribed, each of which gets PeerLeft when the session stops.
	peerTopics map[string]bool
	introduced map[string]bool
	topicPIDs  map[string]*actor.PID
	graylisted bool
	queued     int // bytes last reported to the queue gauge
	// reopens counts outbound streams failed in a row; reopen is set
	// while a new writer waits for the next heartbeat.
	reopens int
	reopen  bool

	// scratch, reused across inbound RPCs
	iwantRoute map[string][][]byte
}

func newSession(cfg Config, deps Deps) *sessionActor {
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	return &sessionActor{
		cfg:         cfg,
		deps:        deps,
		log:         log.With("peer", deps.Peer),
		state:       NewState(cfg),
		peer:        []byte(deps.Peer),
		localTopics: map[string]bool{},
		tracked:     map[string]bool{},
		peerTopics:  map[string]bool{},
		introduced:  map[string]bool{},
		topicPIDs:   map[string]*actor.PID{},
		iwantRoute:  map[string][][]byte{},
	}
}

func (s *sessionActor) Receive(c actor.Context) {
	// Once per handled message: what waited too long in the queue goes
	// before anything is added to it or handed to the writer.
	expired := s.state.Expire(s.deps.Clock())
	s.deps.Metrics.counts(expired)
	if on, changed := s.state.Congestion(expired.Expired[lane(pubsubv1.Priority_PRIORITY_FORWARD)]); changed {
		s.tellCongestion(c, on)
	}
	switch m := c.Message().(type) {
	case *actor.Started:
		s.start(c)
	case *actor.Stopping:
		s.stop(c)
	case *pubsubv1.SendToPeer:
		s.deps.Metrics.counts(s.state.Enqueue(m, s.features.IDontWant || !s.opened))
		s.flush()
	case *pubsubv1.InboundRPC:
		s.inbound(c, m)
	case *pubsubv1.InboundSync:
		// Every RPC the reader sent before this barrier has been handled.
		c.Respond(&pubsubv1.InboundSynced{Stream: m.GetStream()})
	case *pubsubv1.LocalTopics:
		s.setLocalTopics(c, m)
		if len(m.GetStarted()) > 0 {
			c.Send(c.Parent(), &pubsubv1.LocalTopicsSeen{Peer: s.peer, Seq: m.GetSeq()})
		}
		s.flush()
	case *pubsubv1.PeerStatus:
		s.graylisted = m.GetGraylisted()
	case *heartbeatv1.Tick:
		s.state.Heartbeat()
		if s.reopen {
			s.reopen = false
			s.deps.Metrics.reopened()
			s.startWriter(c)
		}
	case *pubsubv1.OutboundOpened:
		s.onOpened(c, protocol.ID(m.GetProtocol()))
	case *pubsubv1.WriteDone:
		s.reopens = 0 // the stream works (WriteDone follows a successful flush)
		if m.GetError() != "" {
			s.log.Debug("outbound frame refused", "err", m.GetError())
		}
		s.flush()
	case *pubsubv1.StreamFailed:
		if m.GetOutbound() {
			s.outboundFailed(c, m)
		} else if PeerFault(m.GetRejectReason()) && s.state.BadFrame() {
			s.disconnectBadFrames(m.GetRejectReason())
		}
	}
}

// outboundFailed ends the failed writer and reopens the stream at the next
// heartbeat, keeping the session (and so its PID, which the peer's inbound
// stream sends to, and its queue): at most MaxOutboundReopens times in a
// row, then the session gives up and the router stops it.
//
// A write that timed out (the peer did not read for WriteTimeout) ends
// the session at once, with a behaviour penalty: the peer is slow, not
// its stream broken, and a new stream would block the same way.
func (s *sessionActor) outboundFailed(c actor.Context, m *pubsubv1.StreamFailed) {
	s.stopWriter()
	s.opened = false
	reason := m.GetError()
	if m.GetRejectReason() == writeTimeout {
		s.log.Info("peer did not read for WriteTimeout: session ended", "timeout", s.cfg.WriteTimeout, "err", reason)
		if s.cfg.PenaltyWriteTimeout > 0 {
			c.Send(c.Parent(), &pubsubv1.PeerBehaviourPenalty{Peer: s.peer, Penalty: s.cfg.PenaltyWriteTimeout, Reason: writeTimeout})
		}
		c.Send(c.Parent(), &pubsubv1.SessionClosed{Peer: s.peer, Reason: reason})
		c.Stop(c.Self())
		return
	}
	if s.reopens >= s.cfg.MaxOutboundReopens {
		c.Send(c.Parent(), &pubsubv1.SessionClosed{Peer: s.peer, Reason: reason})
		c.Stop(c.Self())
		return
	}
	s.reopens++
	s.reopen = true
	s.log.Debug("outbound stream failed: reopening it at the next heartbeat", "err", reason, "attempt", s.reopens)
}

// disconnectBadFrames closes the peer's connections: it sent more bad
// frames in one heartbeat than MaxBadFramesPerHeartbeat (ADR 0025). The
// router and the peer manager learn of it as of any disconnect, through the
// network's events; the peer's score already carries a behaviour penalty
// per frame (kept for RetainScore). ClosePeer waits for the transport, so
// it runs on a goroutine of its own, at most once per heartbeat.
func (s *sessionActor) disconnectBadFrames(reason string) {
	s.log.Info("peer sent too many bad frames in a heartbeat: disconnecting it", "limit", s.cfg.MaxBadFramesPerHeartbeat, "last_reason", reason)
	s.deps.Metrics.badFrameDisconnect()
	if s.deps.Closer == nil {
		return
	}
	closer, p, log := s.deps.Closer, s.deps.Peer, s.log
	go func() {
		if err := closer.ClosePeer(p); err != nil {
			log.Warn("disconnect after bad frames failed", "err", err)
		}
	}()
}

// start takes what the router knew (the peer's topics, if this session
// replaces one; the topic actors) and launches the writer goroutine, which
// opens the outbound stream.
func (s *sessionActor) start(c actor.Context) {
	for _, t := range s.deps.PeerTopics {
		s.peerTopics[t] = true
	}
	s.setLocalTopics(c, &pubsubv1.LocalTopics{Topics: s.deps.Topics, Tracked: s.deps.Tracked})
	s.startWriter(c)
}

// startWriter launches a writer goroutine, which opens the outbound stream
// and reports OutboundOpened (then the hello goes out).
func (s *sessionActor) startWriter(c actor.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.out = make(chan []*gossipsubv1.RPC, 1)
	s.writerIdle = &atomic.Bool{}
	go runWriter(ctx, c.ActorSystem().Root, c.Self(), s.cfg, s.deps, s.out, s.writerIdle)
}

// stopWriter ends the writer goroutine (it closes or has reset its stream).
func (s *sessionActor) stopWriter() {
	if s.cancel != nil {
		s.cancel()
		close(s.out)
		s.cancel = nil
	}
}

// stop ends the writer and tells every topic actor the peer was introduced
// to that it left: the last message of this session to them, so nothing can
// bring the peer back into a topic after it (ADR 0012: no ghosts).
func (s *sessionActor) stop(c actor.Context) {
	left := &pubsubv1.PeerLeft{Peer: s.peer}
	for t := range s.introduced {
		c.Send(s.topicPID(c, t), left)
	}
	clear(s.introduced)
	s.stopWriter()
	s.deps.Metrics.queueDelta(-s.queued)
	s.queued = 0
}

func (s *sessionActor) onOpened(c actor.Context, proto protocol.ID) {
	s.opened = true
	s.features = wire.FeaturesOf(proto)
	s.protocol = string(proto)
	c.Send(c.Parent(), &pubsubv1.SessionStarted{Peer: s.peer, Protocol: s.protocol, Outbound: s.deps.Outbound})
	// Topic actors learnt of the peer's subscriptions before we knew its
	// features; tell them again, now with the protocol.
	for t := range s.introduced {
		s.introduce(c, t)
	}
	// The hello: every local subscription, in the first RPC on the stream.
	hello := &gossipsubv1.RPC{}
	for t := range s.localTopics {
		hello.Subscriptions = append(hello.Subscriptions, subOpts(t, true))
	}
	// Written even when empty: go-libp2p negotiates the protocol lazily, on
	// the first write, and the remote resets a stream that stays silent past
	// its negotiation timeout (10 s). An empty frame is skipped by readers.
	s.dispatch(hello, true)
}

func subOpts(topic string, sub bool) *gossipsubv1.SubOpts {
	return &gossipsubv1.SubOpts{Topicid: &topic, Subscribe: &sub}
}

// introduce tells topic t's actor that the peer is subscribed.
func (s *sessionActor) introduce(c actor.Context, t string) {
	s.introduced[t] = true
	c.Send(s.topicPID(c, t), &pubsubv1.PeerSubscriptions{Peer: s.peer,
		Subscriptions: []*gossipsubv1.SubOpts{subOpts(t, true)}, Outbound: s.deps.Outbound, Protocol: s.protocol})
	if s.state.Congested() {
		c.Send(s.topicPID(c, t), &pubsubv1.PeerCongestion{Peer: s.peer, Congested: true})
	}
}

// tellCongestion tells the topic actors the peer was introduced to that its
// outbound queue turned congested or healthy (publish admission, ADR 0030).
func (s *sessionActor) tellCongestion(c actor.Context, on bool) {
	for t := range s.introduced {
		c.Send(s.topicPID(c, t), &pubsubv1.PeerCongestion{Peer: s.peer, Congested: on})
	}
}

// setLocalTopics takes the router's topic actors: it announces the change
// of joined topics to the peer (if the hello is already out; otherwise the
// hello carries the new set) and introduces the peer to every topic actor it
// did not know yet, or that was just (re)started, if the peer is subscribed.
// A topic actor that is gone needs no PeerLeft.
func (s *sessionActor) setLocalTopics(c actor.Context, m *pubsubv1.LocalTopics) {
	topics := m.GetTopics()
	tracked := make(map[string]bool, len(topics)+len(m.GetTracked()))
	for _, t := range topics {
		tracked[t] = true
	}
	for _, t := range m.GetTracked() {
		tracked[t] = true
	}
	for t := range s.introduced {
		if !tracked[t] {
			delete(s.introduced, t)
		}
	}
	for _, t := range m.GetStarted() {
		delete(s.introduced, t)
	}
	for t := range tracked {
		if s.peerTopics[t] && !s.introduced[t] {
			s.introduce(c, t)
		}
	}
	for t := range s.tracked {
		if !tracked[t] {
			delete(s.topicPIDs, t)
		}
	}
	s.tracked = tracked
	next := make(map[string]bool, len(topics))
	for _, t := range topics {
		next[t] = true
	}
	for t := range next {
		if !s.localTopics[t] && s.opened {
			s.deps.Metrics.drops(s.state.Queue.PushSubscription(subOpts(t, true)))
		}
	}
	for t := range s.localTopics {
		if !next[t] {
			if s.opened {
				s.deps.Metrics.drops(s.state.Queue.PushSubscription(subOpts(t, false)))
			}
		}
	}
	s.localTopics = next
}

// flush hands the queued items to the writer when it is idle; while it is
// busy they accumulate and go out together in the next frame.
func (s *sessionActor) flush() {
	if s.opened && s.cancel != nil && !s.state.Queue.Empty() && s.writerIdle.Load() {
		s.dispatch(&gossipsubv1.RPC{}, false)
	}
	s.reportQueue()
}

func (s *sessionActor) dispatch(rpc *gossipsubv1.RPC, hello bool) {
	var frames []*gossipsubv1.RPC
	start := s.state.Queue.Bytes()
	for {
		n := s.state.Queue.PopFrame(rpc, s.cfg.OutboundFrame, s.cfg.MaxIDontWantPerFrame)
		if n == 0 && len(rpc.Subscriptions) == 0 && !hello {
			break // nothing to say: an empty frame would only cost a write
		}
		hello = false
		frames = append(frames, rpc)
		// More frames in the same write when one is full (OutboundFrame,
		// or IDONTWANT ids a peer would ignore beyond MaxIDontWantPerFrame),
		// bounded so one write stays bounded too.
		if s.state.Queue.Empty() || len(frames) >= maxFramesPerWrite || start-s.state.Queue.Bytes() >= maxWriteBytes {
			break
		}
		rpc = &gossipsubv1.RPC{}
	}
	if len(frames) == 0 {
		return
	}
	s.writerIdle.Store(false)
	s.out <- frames // never blocks: the writer is idle and the channel has room for one
	s.reportQueue()
}

// maxFramesPerWrite and maxWriteBytes bound what is handed to the writer at
// once (what does not fit waits for the next write, in the queue, where it
// can still expire or be cancelled). 64 KiB is one default OutboundFrame,
// about 60 forwarded 1 KiB messages, and what Noise encrypts in one record
// anyway: a larger write saves no syscall, but a writer blocked on a full
// stream window holds its whole batch in a pooled buffer (ADR 0021).
const (
	maxFramesPerWrite = 16
	maxWriteBytes     = 64 << 10
)

func (s *sessionActor) reportQueue() {
	b := s.state.Queue.Bytes()
	s.deps.Metrics.queueDelta(b - s.queued)
	s.queued = b
}

func (s *sessionActor) topicPID(c actor.Context, topic string) *actor.PID {
	pid, ok := s.topicPIDs[topic]
	if !ok {
		pid = TopicPID(c.Parent(), topic)
		s.topicPIDs[topic] = pid
	}
	return pid
}

// inbound splits one RPC of the peer by destination.
func (s *sessionActor) inbound(c actor.Context, m *pubsubv1.InboundRPC) {
	rpc := m.GetRpc()
	if s.graylisted {
		s.deps.Metrics.Dropped("graylisted", 1)
		return
	}
	if subs := rpc.GetSubscriptions(); len(subs) > 0 {
		s.subscriptions(c, subs)
	}
	if msgs, known := rpc.GetPublish(), m.GetKnown(); len(msgs) > 0 || len(known) > 0 {
		s.messages(c, msgs, m.GetIds(), known)
	}
	if ctrl := rpc.GetControl(); ctrl != nil {
		s.control(c, ctrl)
	}
}

func (s *sessionActor) subscriptions(c actor.Context, subs []*gossipsubv1.SubOpts) {
	changed := make([]*gossipsubv1.SubOpts, 0, len(subs))
	for _, sub := range subs {
		t := sub.GetTopicid()
		if t == "" {
			s.deps.Metrics.Dropped("empty_topic", 1)
			continue
		}
		if sub.GetSubscribe() && !s.peerTopics[t] {
			// Only a new topic costs state: checked once, when it arrives.
			if len(t) > s.cfg.MaxTopicLength {
				s.deps.Metrics.Dropped("topic_too_long", 1)
				continue
			}
			if s.deps.AcceptTopic != nil && !s.tracked[t] && !s.deps.AcceptTopic(t) {
				s.deps.Metrics.Dropped("topic_filtered", 1)
				continue
			}
		}
		if sub.GetSubscribe() {
			if !s.peerTopics[t] && len(s.peerTopics) >= s.cfg.Limits.MaxSubscriptions {
				s.deps.Metrics.Dropped("peer_topics_full", 1)
				continue
			}
			s.peerTopics[t] = true
		} else {
			delete(s.peerTopics, t)
		}
		changed = append(changed, sub)
	}
	if len(changed) == 0 {
		return
	}
	ps := &pubsubv1.PeerSubscriptions{Peer: s.peer, Subscriptions: changed, Outbound: s.deps.Outbound, Protocol: s.protocol}
	c.Send(c.Parent(), ps) // the router's observer copy
	for _, sub := range changed {
		t := sub.GetTopicid()
		switch {
		case !s.tracked[t]:
		case sub.GetSubscribe():
			s.introduce(c, t)
		case s.introduced[t]:
			delete(s.introduced, t)
			c.Send(s.topicPID(c, t), &pubsubv1.PeerSubscriptions{
				Peer: s.peer, Subscriptions: []*gossipsubv1.SubOpts{sub}, Outbound: s.deps.Outbound, Protocol: s.protocol})
		}
	}
}

// messages hands the peer's messages to their topics, grouped per topic.
// ids, when the reader computed them, are the ids of msgs in order (nil for
// a message the reader's check refused); known are copies of messages the
// node had seen, whose bodies the reader dropped (ADR 0027): they go to the
// topic as ids only.
func (s *sessionActor) messages(c actor.Context, msgs []*gossipsubv1.Message, ids [][]byte, known []*pubsubv1.KnownCopy) {
	var g topicGroups
	var invalid map[string]uint32
	for i, msg := range msgs {
		t := msg.GetTopic()
		if !s.localTopics[t] {
			s.deps.Metrics.Dropped("not_subscribed", 1)
			continue
		}
		var id []byte
		if len(ids) == len(msgs) {
			id = ids[i]
		}
		if id == nil {
			var err error
			if id, err = s.deps.Inspect(msg); err != nil {
				// Not handed to the topic: marking a forged from||seqno id as
				// seen would let an attacker censor the genuine message.
				s.deps.Metrics.Dropped("invalid_message", 1)
				s.log.Debug("message refused", "topic", t, "err", err)
				if invalid == nil {
					invalid = map[string]uint32{}
				}
				invalid[t]++
				continue
			}
		}
		s.deps.Metrics.counts(s.state.Received(string(id)))
		g.add(s.peer, t, &pubsubv1.IdentifiedMessage{Id: id, Message: msg})
	}
	for _, k := range known {
		t := k.GetTopic()
		if !s.localTopics[t] {
			s.deps.Metrics.Dropped("not_subscribed", 1)
			continue
		}
		s.deps.Metrics.counts(s.state.Received(string(k.GetId())))
		g.add(s.peer, t, &pubsubv1.IdentifiedMessage{Id: k.GetId()})
	}
	if g.single != nil {
		c.Send(s.topicPID(c, g.singleTopic), g.single)
	}
	for t, rm := range g.byTopic {
		c.Send(s.topicPID(c, t), rm)
	}
	// The topic charges the sender P4 for them (ids withheld, see above).
	for t, n := range invalid {
		c.Send(s.topicPID(c, t), &pubsubv1.InvalidMessagesReceived{Peer: s.peer, Topic: t, Count: n})
	}
}

// topicGroups collects one RPC's messages per topic; the common case, one
// topic per RPC, needs no map.
type topicGroups struct {
	single      *pubsubv1.ReceivedMessages
	singleTopic string
	byTopic     map[string]*pubsubv1.ReceivedMessages
}

func (g *topicGroups) add(from []byte, t string, im *pubsubv1.IdentifiedMessage) {
	switch {
	case g.single == nil:
		g.single, g.singleTopic = &pubsubv1.ReceivedMessages{Peer: from}, t
		g.single.Messages = append(g.single.Messages, im)
	case g.singleTopic == t:
		g.single.Messages = append(g.single.Messages, im)
	default:
		if g.byTopic == nil {
			g.byTopic = map[string]*pubsubv1.ReceivedMessages{}
		}
		rm := g.byTopic[t]
		if rm == nil {
			rm = &pubsubv1.ReceivedMessages{Peer: from}
			g.byTopic[t] = rm
		}
		rm.Messages = append(rm.Messages, im)
	}
}

func (s *sessionActor) control(c actor.Context, ctrl *gossipsubv1.ControlMessage) {
	if ids := ctrl.GetIdontwant(); len(ids) > 0 {
		s.deps.Metrics.counts(s.state.HandleIDontWant(ids))
		s.reportQueue()
	}
	perTopic := map[string]*pubsubv1.ReceivedControl{}
	get := func(t string) *pubsubv1.ReceivedControl {
		rc := perTopic[t]
		if rc == nil {
			rc = &pubsubv1.ReceivedControl{Peer: s.peer, Outbound: s.deps.Outbound}
			perTopic[t] = rc
		}
		return rc
	}
	for _, g := range ctrl.GetGraft() {
		if t := g.GetTopicID(); s.localTopics[t] {
			get(t).Graft = append(get(t).Graft, g)
		} else {
			s.deps.Metrics.Dropped("graft_unknown_topic", 1)
		}
	}
	for _, p := range ctrl.GetPrune() {
		if t := p.GetTopicID(); s.localTopics[t] {
			get(t).Prune = append(get(t).Prune, p)
		}
	}
	if ihave := ctrl.GetIhave(); len(ihave) > 0 {
		accepted, refused := s.state.AcceptIHave(ihave)
		s.deps.Metrics.Dropped("ihave_over_budget", refused)
		for _, ih := range accepted {
			if t := ih.GetTopicID(); s.localTopics[t] {
				get(t).Ihave = append(get(t).Ihave, ih)
			}
		}
	}
	if iwant := ctrl.GetIwant(); len(iwant) > 0 {
		clear(s.iwantRoute)
		r := s.state.RouteIWant(iwant, s.iwantRoute)
		s.deps.Metrics.Dropped("iwant_not_advertised", r.Unknown)
		s.deps.Metrics.Dropped("iwant_skipped", r.Skipped)
		if r.Abusive && s.cfg.PenaltyUnsolicitedIWant > 0 {
			// P7 is the router's (ADR 0012); the session only reports.
			c.Send(c.Parent(), &pubsubv1.PeerBehaviourPenalty{Peer: s.peer, Penalty: s.cfg.PenaltyUnsolicitedIWant, Reason: "iwant_unsolicited"})
		}
		// Any topic with an actor, joined or not: we advertise the
		// fanout's messages too, and a peer that asks for one and gets
		// nothing counts a broken promise against us.
		for t, ids := range s.iwantRoute {
			if s.tracked[t] {
				get(t).Iwant = ids
			}
		}
	}
	for t, rc := range perTopic {
		c.Send(s.topicPID(c, t), rc)
	}
}

// runWriter is the session's writer goroutine: it opens the outbound stream
// and writes each batch of frames the actor hands it with one flush. It reports back only
// with messages to the session.
func runWriter(ctx context.Context, root *actor.RootContext, self *actor.PID, cfg Config, deps Deps, in <-chan []*gossipsubv1.RPC, idle *atomic.Bool) {
	var st Stream
	// A panic here (an encoder's, a stream implementation's) would take
	// the process down (reliability case F8): it fails this outbound
	// stream like a write error, so the session reopens it or gives up.
	defer func() {
		if p := recover(); p != nil {
			if st != nil {
				_ = st.Reset()
			}
			deps.Metrics.Panicked("outbound")
			err := fmt.Errorf("write to %s: %w", deps.Peer, recovered(p))
			log := deps.Logger
			if log == nil {
				log = slog.Default()
			}
			log.Error("outbound stream writer panicked: stream reset, session kept", "peer", deps.Peer, "err", err)
			root.Send(self, &pubsubv1.StreamFailed{Outbound: true, Error: err.Error()})
			for range in { // drain until the actor stops the writer
			}
		}
	}()
	octx, cancel := context.WithTimeout(ctx, cfg.OpenTimeout)
	st, err := deps.Opener.OpenStream(octx, deps.Peer, cfg.Protocols...)
	cancel()
	if err != nil {
		root.Send(self, &pubsubv1.StreamFailed{Outbound: true, Error: fmt.Sprintf("open stream to %s: %v", deps.Peer, err)})
		for range in { // drain until the actor stops
		}
		return
	}
	idle.Store(true)
	root.Send(self, &pubsubv1.OutboundOpened{Protocol: string(st.Protocol())})
	w := wire.NewWriter(st, cfg.MaxFrame, wire.WithFlushThreshold(0))
	failed := false
	for frames := range in {
		if failed {
			continue
		}
		_ = st.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
		if len(frames) > 1 {
			total := 0
			for _, rpc := range frames {
				total += proto.Size(rpc) + binary.MaxVarintLen32
			}
			w.Grow(total) // one allocation for the write, not one doubling per frame
		}
		items, refused := 0, ""
		var err error
		for _, rpc := range frames {
			k := len(rpc.GetSubscriptions()) + len(rpc.GetPublish()) + controlEntries(rpc.GetControl())
			if err = w.Write(rpc); errors.Is(err, wire.ErrFrameTooLarge) {
				// One item larger than the peer's frame limit: refuse it, keep the stream.
				deps.Metrics.Dropped("outbound_frame_too_large", k)
				refused, err = err.Error(), nil
				continue
			}
			if err != nil {
				break
			}
			items += k
		}
		n := w.Buffered()
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			failed = true
			_ = st.Reset()
			sf := &pubsubv1.StreamFailed{Outbound: true, Error: fmt.Sprintf("write to %s: %v", deps.Peer, err)}
			if timedOut(err) {
				sf.RejectReason = writeTimeout
			}
			root.Send(self, sf)
			continue
		}
		deps.Metrics.wrote(items, n)
		idle.Store(true)
		root.Send(self, &pubsubv1.WriteDone{Rpcs: uint32(items), Bytes: uint64(n), Error: refused})
	}
	if !failed {
		_ = st.Close()
	}
}

// writeTimeout is the StreamFailed reason of a write that missed its
// WriteTimeout deadline, and the penalty reason it costs.
const writeTimeout = "write_timeout"

// timedOut reports whether a write failed at its deadline.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func controlEntries(c *gossipsubv1.ControlMessage) int {
	if c == nil {
		return 0
	}
	return len(c.Ihave) + len(c.Iwant) + len(c.Graft) + len(c.Prune) + len(c.Idontwant)
}
