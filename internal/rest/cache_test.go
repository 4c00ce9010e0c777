package rest

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/peermesh/peermesh/actortest"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
)

func TestCacheKeepsNewestAndCountsDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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

func TestActorRelaySubscribesTheCache(t *testing.T) {
	sys := actortest.NewSystem(t)
	props, err := CacheProps(DefaultConfig(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c := sys.Root.Spawn(props)
	subs := &fakeSubs{subs: map[string]*actor.PID{}}
	r := &ActorRelay{Root: sys.Root, Cache: c, Node: subs}
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
	subs.err = errors.New("no router")
	if err := r.Subscribe(ctx, "/u"); err == nil {
		t.Fatal("subscribe succeeded though the node refused")
	}
	if _, ok, _ := r.Drain(ctx, "/u"); ok {
		t.Fatal("a refused subscription left its backlog open")
	}
}
