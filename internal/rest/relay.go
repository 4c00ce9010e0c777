package rest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
)

// Subscriptions is the node's side of a cache subscription: make subscriber
// receive (or stop receiving) MessageReceived for topic.
type Subscriptions interface {
	Subscribe(ctx context.Context, topic string, subscriber *actor.PID) error
	Unsubscribe(ctx context.Context, topic string, subscriber *actor.PID) error
}

// ActorRelay implements Relay with the cache actor at Cache.
type ActorRelay struct {
	Root  *actor.RootContext
	Cache *actor.PID
	Node  Subscriptions
}

// Subscribe opens the topic's backlog first, so no message delivered after
// the subscription is lost, then subscribes the cache; a failed subscription
// closes the backlog again.
func (a *ActorRelay) Subscribe(ctx context.Context, topic string) error {
	var opened *apiv1.CacheOpened
	if err := request(ctx, a.Root, a.Cache, &apiv1.OpenCache{Topic: topic}, &opened); err != nil {
		return err
	}
	if opened.GetError() != "" {
		return errors.New(opened.GetError())
	}
	if err := a.Node.Subscribe(ctx, topic, a.Cache); err != nil {
		var closed *apiv1.CacheClosed
		_ = request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: topic}, &closed)
		return err
	}
	return nil
}

// Unsubscribe stops deliveries and forgets the backlog.
func (a *ActorRelay) Unsubscribe(ctx context.Context, topic string) error {
	if err := a.Node.Unsubscribe(ctx, topic, a.Cache); err != nil {
		return err
	}
	var closed *apiv1.CacheClosed
	return request(ctx, a.Root, a.Cache, &apiv1.CloseCache{Topic: topic}, &closed)
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
	res, err := root.RequestFuture(pid, msg, timeout).Result()
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
