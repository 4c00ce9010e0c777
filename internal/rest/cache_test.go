package rest

import (
	"context"
	"errors"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

func TestCacheKeepsNewestAndCountsDrops(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		cfg := DefaultConfig()
		cfg.CacheCapacity = 2
		cfg.MaxCachedTopics = 1
		props, err := CacheProps(cfg, reg)
		if err != nil {
			t.Fatal(err)
		}
		c := sys.Root.Spawn(props)
		p := actortest.NewProbe(t, sys)

		p.Request(c, &apiv1.DrainCache{Topic: "/t"})
		if d := actortest.Expect[*apiv1.CacheDrained](p); d.GetOpen() {
			t.Fatalf("a topic never opened drains as open: %v", d)
		}
		p.Request(c, &apiv1.OpenCache{Topic: "/t"})
		if o := actortest.Expect[*apiv1.CacheOpened](p); o.GetError() != "" {
			t.Fatal(o.GetError())
		}
		p.Request(c, &apiv1.OpenCache{Topic: "/u"})
		if o := actortest.Expect[*apiv1.CacheOpened](p); o.GetError() == "" {
			t.Fatal("opening beyond MaxCachedTopics succeeded")
		}
		for _, d := range []string{"1", "2", "3"} {
			p.Send(c, &apiv1.MessageReceived{Topic: "/t", Data: []byte(d)})
		}
		p.Send(c, &apiv1.MessageReceived{Topic: "/other", Data: []byte("x")})
		p.Request(c, &apiv1.DrainCache{Topic: "/t"})
		d := actortest.Expect[*apiv1.CacheDrained](p)
		if !d.GetOpen() || len(d.GetMessages()) != 2 || string(d.GetMessages()[0].GetData()) != "2" || d.GetDropped() != 1 {
			t.Fatalf("drained %v, want messages 2 and 3 with one drop", d)
		}
		if n, err := testutil.GatherAndCount(reg, "peermesh_rest_relay_cache_dropped_total"); err != nil || n != 1 {
			t.Fatalf("dropped metric: %d series, %v", n, err)
		}
		p.Request(c, &apiv1.DrainCache{Topic: "/t"})
		if d := actortest.Expect[*apiv1.CacheDrained](p); len(d.GetMessages()) != 0 {
			t.Fatalf("second drain returned %v", d)
		}
		p.Request(c, &apiv1.CloseCache{Topic: "/t"})
		if cl := actortest.Expect[*apiv1.CacheClosed](p); !cl.GetFound() {
			t.Fatal("close did not find the topic")
		}
	})
}

type fakeSubs struct {
	err  error
	subs map[string]*actor.PID
	// released are the topics let go of (UnsubscribeAndLeave).
	released []string
}

func (f *fakeSubs) Subscribe(_ context.Context, topic string, pid *actor.PID) error {
	if f.err != nil {
		return f.err
	}
	f.subs[topic] = pid
	return nil
}

func (f *fakeSubs) Unsubscribe(_ context.Context, topic string, _ *actor.PID) error {
	delete(f.subs, topic)
	return nil
}

func (f *fakeSubs) UnsubscribeAndLeave(ctx context.Context, topic string, pid *actor.PID) error {
	f.released = append(f.released, topic)
	return f.Unsubscribe(ctx, topic, pid)
}

func TestActorRelaySubscribesTheCache(t *testing.T) {
	sys, c, subs, r := newActorRelay(t)
	ctx := context.Background()
	if err := r.Subscribe(ctx, "/t"); err != nil {
		t.Fatal(err)
	}
	if subs.subs["/t"] != c {
		t.Fatalf("the cache was not made the subscriber: %v", subs.subs)
	}
	sys.Root.Send(c, &apiv1.MessageReceived{Topic: "/t", Data: []byte("m")})
	msgs, ok, err := r.Drain(ctx, "/t")
	if err != nil || !ok || len(msgs) != 1 {
		t.Fatalf("drain: %v %v %v", msgs, ok, err)
	}
	if err := r.Unsubscribe(ctx, "/t"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := r.Drain(ctx, "/t"); ok {
		t.Fatal("topic still cached after Unsubscribe")
	}
	// DELETE /relay/v1/subscriptions lets go of the topic, configured or not.
	if len(subs.released) != 1 || subs.released[0] != "/t" {
		t.Fatalf("released %v", subs.released)
	}
	subs.err = errors.New("no router")
	if err := r.Subscribe(ctx, "/u"); err == nil {
		t.Fatal("subscribe succeeded though the node refused")
	}
	if _, ok, _ := r.Drain(ctx, "/u"); ok {
		t.Fatal("a refused subscription left its backlog open")
	}
}

// Content-topic subscriptions (autosharding routes) keep only their content
// topic's messages of the shard, and the cache stays subscribed to a shard
// while a content topic or the shard's own subscription still needs it.
func TestActorRelayContentTopics(t *testing.T) {
	sys, c, subs, r := newActorRelay(t)
	ctx := context.Background()
	const shard = "/waku/2/rs/1/3"
	for _, ct := range []string{"/a/1/x/proto", "/a/1/y/proto"} {
		if err := r.SubscribeContent(ctx, ct, shard); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Subscribe(ctx, shard); err != nil {
		t.Fatal(err)
	}
	wm := func(ct string) []byte {
		b, _ := proto.Marshal(&wakuv1.WakuMessage{Payload: []byte("p"), ContentTopic: ct})
		return b
	}
	for _, ct := range []string{"/a/1/x/proto", "/a/1/y/proto", "/a/1/z/proto"} {
		sys.Root.Send(c, &apiv1.MessageReceived{Topic: shard, Data: wm(ct)})
	}
	if msgs, ok, err := r.DrainContent(ctx, "/a/1/x/proto"); err != nil || !ok || len(msgs) != 1 || string(msgs[0].GetData()) != string(wm("/a/1/x/proto")) {
		t.Fatalf("content backlog: %v %v %v", msgs, ok, err)
	}
	if msgs, _, _ := r.Drain(ctx, shard); len(msgs) != 3 {
		t.Fatalf("shard backlog holds %d messages, want all 3", len(msgs))
	}
	steps := []struct {
		do         func() error
		subscribed bool
	}{
		{func() error { return r.UnsubscribeContent(ctx, "/a/1/x/proto") }, true},
		{func() error { return r.Unsubscribe(ctx, shard) }, true}, // /a/1/y/proto still needs it
		{func() error { return r.UnsubscribeContent(ctx, "/a/1/y/proto") }, false},
	}
	for i, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		if _, ok := subs.subs[shard]; ok != st.subscribed {
			t.Fatalf("step %d: cache subscribed to the shard: %v, want %v", i, ok, st.subscribed)
		}
	}
	if _, ok, _ := r.DrainContent(ctx, "/a/1/x/proto"); ok {
		t.Fatal("content topic still cached after UnsubscribeContent")
	}
}

// newActorRelay is an ActorRelay over a fresh cache actor and fake node
// subscriptions.
func newActorRelay(t *testing.T) (*actor.ActorSystem, *actor.PID, *fakeSubs, *ActorRelay) {
	t.Helper()
	sys := actortest.NewSystem(t)
	props, err := CacheProps(DefaultConfig(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := sys.Root.Spawn(props)
	subs := &fakeSubs{subs: map[string]*actor.PID{}}
	return sys, c, subs, &ActorRelay{Root: sys.Root, Cache: c, Node: subs}
}
