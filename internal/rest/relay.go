package rest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/actorkit"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
)

// Subscriptions is the node's side of a cache subscription: make subscriber
// receive (or stop receiving) MessageReceived for topic.
// UnsubscribeAndLeave also lets go of a topic the configuration joined:
// DELETE /relay/v1/subscriptions leaves the topic, as nwaku's does.
type Subscriptions interface {
	Subscribe(ctx context.Context, topic string, subscriber *actor.PID) error
	Unsubscribe(ctx context.Context, topic string, subscriber *actor.PID) error
	UnsubscribeAndLeave(ctx context.Context, topic string, subscriber *actor.PID) error
}

// ActorRelay implements Relay with the cache actor at Cache.
type ActorRelay struct {
	Root  *actor.RootContext
	Cache *actor.PID
	Node  Subscriptions

	// mu guards what keeps the cache subscribed to a pubsub topic: the
	// topic's own subscription (direct) and the content topics on it
	// (contents: content topic → pubsub topic), so the cache leaves a
	// topic when the last of them goes. HTTP handlers call concurrently.
	mu       sync.Mutex
	direct   map[string]bool
	contents map[string]string
}

// track runs f, a change of the subscriptions, under mu.
func (a *ActorRelay) track(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.direct == nil {
		a.direct, a.contents = map[string]bool{}, map[string]string{}
	}
	f()
}

// unused reports (under mu) whether nothing keeps pubsubTopic.
func (a *ActorRelay) unused(pubsubTopic string) bool {
	if a.direct[pubsubTopic] {
		return false
	}
	for _, t := range a.contents {
		if t == pubsubTopic {
			return false
		}
	}
	return true
}

// Subscribe opens the topic's backlog first, so no message delivered after
// the subscription is lost, then subscribes the cache; a failed subscription
// closes the backlog again.
func (a *ActorRelay) Subscribe(ctx context.Context, topic string) error {
	if err := a.open(ctx, &apiv1.OpenCache{Topic: topic}); err != nil {
		return err
	}
	if err := a.Node.Subscribe(ctx, topic, a.Cache); err != nil {
		var closed *apiv1.CacheClosed
		_ = request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: topic}, &closed)
		return err
	}
	a.track(func() { a.direct[topic] = true })
	return nil
}

// Unsubscribe forgets the backlog and stops deliveries, unless content
// topics on topic still need them; the node then leaves the topic, even a
// configured one, unless another local subscriber needs it.
func (a *ActorRelay) Unsubscribe(ctx context.Context, topic string) error {
	var closed *apiv1.CacheClosed
	if err := request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: topic}, &closed); err != nil {
		return err
	}
	leave := true
	a.track(func() { delete(a.direct, topic); leave = a.unused(topic) })
	if !leave {
		return nil
	}
	return a.Node.UnsubscribeAndLeave(ctx, topic, a.Cache)
}

func (a *ActorRelay) open(ctx context.Context, req *apiv1.OpenCache) error {
	var opened *apiv1.CacheOpened
	if err := request(ctx, a.Root, a.Cache, req, &opened); err != nil {
		return err
	}
	if opened.GetError() != "" {
		return errors.New(opened.GetError())
	}
	return nil
}

// SubscribeContent keeps contentTopic's messages of pubsubTopic (its shard)
// for DrainContent, subscribing the cache to pubsubTopic if needed.
func (a *ActorRelay) SubscribeContent(ctx context.Context, contentTopic, pubsubTopic string) error {
	if err := a.open(ctx, &apiv1.OpenCache{Topic: contentTopic, ContentTopic: true}); err != nil {
		return err
	}
	if err := a.Node.Subscribe(ctx, pubsubTopic, a.Cache); err != nil {
		var closed *apiv1.CacheClosed
		_ = request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: contentTopic, ContentTopic: true}, &closed)
		return err
	}
	a.track(func() { a.contents[contentTopic] = pubsubTopic })
	return nil
}

// UnsubscribeContent forgets contentTopic's backlog; the cache leaves its
// pubsub topic when nothing else uses it.
func (a *ActorRelay) UnsubscribeContent(ctx context.Context, contentTopic string) error {
	var closed *apiv1.CacheClosed
	if err := request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: contentTopic, ContentTopic: true}, &closed); err != nil {
		return err
	}
	topic, leave := "", false
	a.track(func() {
		t, ok := a.contents[contentTopic]
		delete(a.contents, contentTopic)
		topic, leave = t, ok && a.unused(t)
	})
	if !leave {
		return nil
	}
	return a.Node.Unsubscribe(ctx, topic, a.Cache)
}

// DrainContent empties a content topic's backlog.
func (a *ActorRelay) DrainContent(ctx context.Context, contentTopic string) ([]*apiv1.MessageReceived, bool, error) {
	var d *apiv1.CacheDrained
	if err := request(ctx, a.Root, a.Cache, &apiv1.DrainCache{Topic: contentTopic, ContentTopic: true}, &d); err != nil {
		return nil, false, err
	}
	return d.GetMessages(), d.GetOpen(), nil
}

// Drain empties the topic's backlog.
func (a *ActorRelay) Drain(ctx context.Context, topic string) ([]*apiv1.MessageReceived, bool, error) {
	var d *apiv1.CacheDrained
	if err := request(ctx, a.Root, a.Cache, &apiv1.DrainCache{Topic: topic}, &d); err != nil {
		return nil, false, err
	}
	return d.GetMessages(), d.GetOpen(), nil
}

// request sends msg to pid and stores the typed answer in *out, waiting at
// most until ctx's deadline (5 s without one).
func request[T proto.Message](ctx context.Context, root *actor.RootContext, pid *actor.PID, msg proto.Message, out *T) error {
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	res, err := actorkit.Request(root, pid, msg, timeout).Wait(ctx)
	if err != nil {
		return fmt.Errorf("%T to %s: %w", msg, pid.GetId(), err)
	}
	v, ok := res.(T)
	if !ok {
		return fmt.Errorf("%T to %s: unexpected answer %T", msg, pid.GetId(), res)
	}
	*out = v
	return nil
}
