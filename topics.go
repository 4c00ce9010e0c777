package peermesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/message"
)

// topicState is the node's view of one topic: whether the router has joined
// it and which local actors receive its messages.
type topicState struct {
	joined      bool
	configured  bool
	subscribers map[string]*actor.PID
	// waiting are Subscribe requests answered once the join completes.
	waiting []waiter
}

type waiter struct {
	requester  *actor.PID
	subscriber *actor.PID
}

func (a *nodeActor) state(topic string) *topicState {
	st, ok := a.topics[topic]
	if !ok {
		st = &topicState{subscribers: map[string]*actor.PID{}}
		a.topics[topic] = st
		a.n.metrics.topics.Set(float64(len(a.topics)))
	}
	return st
}

func (a *nodeActor) dropTopic(topic string) {
	if st, ok := a.topics[topic]; ok {
		a.n.metrics.subscribers.Sub(float64(len(st.subscribers)))
		delete(a.topics, topic)
		a.n.metrics.topics.Set(float64(len(a.topics)))
	}
}

// target resolves the subscriber or watcher of a request: the ref when set,
// else the sender.
func (a *nodeActor) target(ctx actor.Context, ref *apiv1.ActorRef) *actor.PID {
	if pid := PIDOf(ref); pid != nil {
		return pid
	}
	return ctx.Sender()
}

func (a *nodeActor) subscribe(ctx actor.Context, msg *apiv1.Subscribe) {
	topic := msg.GetTopic()
	fail := func(reason string) { ctx.Respond(&apiv1.Subscribed{Topic: topic, Error: reason}) }
	sub := a.target(ctx, msg.GetSubscriber())
	switch {
	case sub == nil:
		fail("no subscriber: set subscriber or send Subscribe as a request")
		return
	case topic == "":
		fail("empty topic")
		return
	case a.router == nil:
		fail(errNoRouter)
		return
	case a.stopping:
		fail("the node is stopping")
		return
	}
	_, known := a.topics[topic]
	if !known && len(a.topics) >= a.n.cfg.MaxTopics {
		a.n.metrics.refused.WithLabelValues("topics").Inc()
		fail(fmt.Sprintf("the node has joined its maximum of %d topics", a.n.cfg.MaxTopics))
		return
	}
	st := a.state(topic)
	if len(st.subscribers)+len(st.waiting) >= a.n.cfg.MaxSubscribers {
		a.n.metrics.refused.WithLabelValues("subscribers").Inc()
		fail(fmt.Sprintf("topic %s has its maximum of %d subscribers", topic, a.n.cfg.MaxSubscribers))
		return
	}
	if st.joined {
		a.addSubscriber(ctx, st, sub)
		ctx.Respond(&apiv1.Subscribed{Topic: topic})
		return
	}
	st.waiting = append(st.waiting, waiter{requester: ctx.Sender(), subscriber: sub})
	if !known {
		ctx.Request(a.router, &pubsubv1.Join{Topic: topic})
	}
}

func (a *nodeActor) addSubscriber(ctx actor.Context, st *topicState, sub *actor.PID) {
	if _, ok := st.subscribers[sub.String()]; ok {
		return
	}
	st.subscribers[sub.String()] = sub
	a.n.metrics.subscribers.Inc()
	ctx.Watch(sub)
}

// joined continues a join: the node subscribes itself to the router so it
// can fan messages out to its own subscribers and watchers.
func (a *nodeActor) joined(ctx actor.Context, msg *pubsubv1.Joined) {
	if msg.GetError() != "" {
		a.failJoin(ctx, msg.GetTopic(), "join: "+msg.GetError())
		return
	}
	ctx.Request(a.router, &pubsubv1.Subscribe{Topic: msg.GetTopic()})
}

func (a *nodeActor) routerSubscribed(ctx actor.Context, msg *pubsubv1.Subscribed) {
	topic := msg.GetTopic()
	if msg.GetError() != "" {
		a.failJoin(ctx, topic, "subscribe: "+msg.GetError())
		return
	}
	st := a.state(topic)
	st.joined = true
	a.n.log.Info("joined pubsub topic", "topic", topic)
	for _, w := range st.waiting {
		a.addSubscriber(ctx, st, w.subscriber)
		if w.requester != nil {
			ctx.Send(w.requester, &apiv1.Subscribed{Topic: topic})
		}
	}
	st.waiting = nil
	a.reportShards(ctx)
}

// reportShards tells the metadata actor and the peer manager the shards we relay — those of our
// cluster among the joined and configured topics — when they changed.
func (a *nodeActor) reportShards(ctx actor.Context) {
	if a.metadata == nil {
		return
	}
	topics := a.joinedTopics()
	for t, st := range a.topics {
		if st.configured {
			topics = append(topics, t)
		}
	}
	shards := a.n.cfg.shards(topics)
	if slices.Equal(shards, a.shards) {
		return
	}
	a.shards = shards
	ctx.Send(a.metadata, &wakuv1.SetLocalMetadata{ClusterId: uint32(a.n.cfg.ClusterID), Shards: shards})
	a.toPeerManager(ctx, &pmv1.SetShards{Shards: shards})
}

func (a *nodeActor) failJoin(ctx actor.Context, topic, reason string) {
	a.n.log.Error("pubsub topic not joined", "topic", topic, "err", reason)
	if st, ok := a.topics[topic]; ok {
		for _, w := range st.waiting {
			if w.requester != nil {
				ctx.Send(w.requester, &apiv1.Subscribed{Topic: topic, Error: reason})
			}
		}
	}
	a.dropTopic(topic)
}

func (a *nodeActor) unsubscribe(ctx actor.Context, msg *apiv1.Unsubscribe) {
	topic := msg.GetTopic()
	sub := a.target(ctx, msg.GetSubscriber())
	st, ok := a.topics[topic]
	if !ok || sub == nil {
		ctx.Respond(&apiv1.Unsubscribed{Topic: topic, Error: "not subscribed to " + topic})
		return
	}
	if _, ok := st.subscribers[sub.String()]; ok {
		delete(st.subscribers, sub.String())
		a.n.metrics.subscribers.Dec()
	}
	if msg.GetRelease() {
		st.configured = false
	}
	a.leaveIfUnused(ctx, topic, st)
	ctx.Respond(&apiv1.Unsubscribed{Topic: topic})
}

// leaveIfUnused leaves a topic nobody needs: no subscriber, not configured.
func (a *nodeActor) leaveIfUnused(ctx actor.Context, topic string, st *topicState) {
	if st.joined && !st.configured && len(st.subscribers) == 0 && len(st.waiting) == 0 && a.router != nil {
		ctx.Request(a.router, &pubsubv1.Leave{Topic: topic})
		a.dropTopic(topic)
		a.reportShards(ctx)
	}
}

// forget removes a stopped actor from every subscriber and watcher list.
func (a *nodeActor) forget(who *actor.PID) {
	key := who.String()
	if _, ok := a.watchers[key]; ok {
		delete(a.watchers, key)
		a.n.metrics.watchers.Set(float64(len(a.watchers)))
	}
	for _, st := range a.topics {
		if _, ok := st.subscribers[key]; ok {
			delete(st.subscribers, key)
			a.n.metrics.subscribers.Dec()
		}
	}
}

func (a *nodeActor) watch(ctx actor.Context, msg *apiv1.Watch) {
	w := a.target(ctx, msg.GetWatcher())
	switch {
	case w == nil:
		ctx.Respond(&apiv1.Watching{Error: "no watcher: set watcher or send Watch as a request"})
	case len(a.watchers) >= a.n.cfg.MaxWatchers:
		a.n.metrics.refused.WithLabelValues("watchers").Inc()
		ctx.Respond(&apiv1.Watching{Error: fmt.Sprintf("the node has its maximum of %d watchers", a.n.cfg.MaxWatchers)})
	default:
		a.watchers[w.String()] = w
		a.n.metrics.watchers.Set(float64(len(a.watchers)))
		ctx.Watch(w)
		ctx.Respond(&apiv1.Watching{})
	}
}

func (a *nodeActor) deliver(ctx actor.Context, d *pubsubv1.Delivered) {
	st, ok := a.topics[d.GetTopic()]
	if !ok {
		return
	}
	ev := &apiv1.MessageReceived{
		Topic: d.GetTopic(), Data: d.GetMessage().GetData(), MessageId: d.GetMessageId(),
		ReceivedAt: timestamppb.New(time.Now()), MessageHash: a.n.messageHash(d.GetTopic(), d.GetMessage().GetData()),
	}
	if from := d.GetReceivedFrom(); len(from) > 0 {
		if id, err := peer.IDFromBytes(from); err == nil {
			ev.ReceivedFrom = id.String()
		}
	}
	if ev.MessageHash != "" && a.n.log.Enabled(context.Background(), slog.LevelDebug) {
		a.n.log.Debug("received message", "topic", ev.Topic, "hash", ev.MessageHash, "from", ev.ReceivedFrom)
	}
	for _, s := range st.subscribers {
		ctx.Send(s, ev)
	}
	for _, w := range a.watchers {
		ctx.Send(w, ev)
	}
	a.n.metrics.delivered.Add(float64(len(st.subscribers) + len(a.watchers)))
}

// publish checks a WakuMessage against the node's rules (waku profile) —
// the API edge reads the clock for the timestamp rule — and publishes it;
// the answer names the message by its RFC 14 hash.
func (a *nodeActor) publish(ctx actor.Context, msg *apiv1.Publish) {
	topic := msg.GetTopic()
	hash := ""
	if a.n.cfg.Profile == ProfileWaku {
		wm, err := a.n.cfg.messageRules().Decode(msg.GetData(), time.Now())
		if err == nil && topic == "" {
			topic, err = a.n.cfg.shardTopic(wm.GetContentTopic())
		}
		if err != nil {
			ctx.Respond(&apiv1.Published{Topic: topic, Error: err.Error()})
			return
		}
		hash = message.HashOf(topic, wm).String()
	}
	req := &pubsubv1.Publish{Topic: topic, Data: msg.GetData()}
	ask(ctx, a.router, req, a.n.cfg.RequestTimeout, func(p *pubsubv1.Published, err error) {
		if err != nil {
			ctx.Respond(&apiv1.Published{Topic: topic, Error: err.Error()})
			return
		}
		if p.GetError() == "" && hash != "" {
			a.n.log.Debug("published message", "topic", topic, "hash", hash)
		}
		ctx.Respond(&apiv1.Published{Topic: topic, MessageId: p.GetMessageId(), Error: p.GetError(), MessageHash: hash})
	})
}

func (a *nodeActor) joinedTopics() []string {
	var out []string
	for t, st := range a.topics {
		if st.joined {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// mesh asks the router for each joined topic's mesh in turn.
func (a *nodeActor) mesh(ctx actor.Context) {
	out := &apiv1.Mesh{}
	if a.router == nil {
		out.Error = errNoRouter
		ctx.Respond(out)
		return
	}
	topics := a.joinedTopics()
	inTurn(len(topics), func(i int, next func()) {
		ask(ctx, a.router, &pubsubv1.GetMesh{Topic: topics[i]}, a.n.cfg.RequestTimeout, func(m *pubsubv1.Mesh, err error) {
			if err == nil && m.GetError() != "" {
				err = errors.New(m.GetError())
			}
			if err != nil {
				out.Error = fmt.Sprintf("mesh of %s: %v", topics[i], err)
			} else {
				out.Topics = append(out.Topics, &apiv1.TopicMesh{Topic: topics[i], PeerIds: peerIDs(m.GetMesh()), TopicPeerIds: peerIDs(m.GetPeers())})
			}
			next()
		})
	}, func() { ctx.Respond(out) })
}

func peerIDs(raw [][]byte) []string {
	out := make([]string, 0, len(raw))
	for _, b := range raw {
		if id, err := peer.IDFromBytes(b); err == nil {
			out = append(out, id.String())
		}
	}
	return out
}
