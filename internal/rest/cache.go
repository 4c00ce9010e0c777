package rest

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/actorkit"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

// backlog is one topic's ring of messages, oldest first.
type backlog struct {
	msgs    []*apiv1.MessageReceived
	dropped uint64
}

// cacheMetrics are the relay cache's bounds made visible.
type cacheMetrics struct {
	messages *prometheus.GaugeVec
	dropped  prometheus.Counter
}

// newCacheMetrics registers the collectors on reg (nil: none) through
// actorkit.Add, so a second cache on one registry shares the series; the
// error is a clash with a different metric, whose series then go unexported.
func newCacheMetrics(reg prometheus.Registerer) (*cacheMetrics, error) {
	m := &cacheMetrics{
		messages: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "peermesh_rest_relay_cache_messages",
			Help: "Messages waiting in the REST relay cache, per topic.",
		}, []string{"topic"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peermesh_rest_relay_cache_dropped_total",
			Help: "Messages dropped from the REST relay cache because a topic's backlog was full or the topic was not cached.",
		}),
	}
	r := actorkit.Registrar{Reg: reg}
	m.messages = actorkit.Add(&r, m.messages)
	m.dropped = actorkit.Add(&r, m.dropped)
	if err := r.Err(); err != nil {
		return m, fmt.Errorf("REST relay cache metrics: %w", err)
	}
	return m, nil
}

// cache is the relay cache actor. Its state is touched only by Receive.
type cache struct {
	cfg     Config
	m       *cacheMetrics
	backlog map[string]*backlog
	// byContent are the backlogs of content topics (autosharding routes),
	// filled from every cached or not cached pubsub topic's WakuMessages.
	byContent map[string]*backlog
}

// CacheProps builds the relay cache actor. Its metrics are registered on reg
// (nil registers none). The Props are always usable: an error only says that
// the metrics clashed with others on reg and are not exported (log it; a
// metric must not keep the cache from working).
func CacheProps(cfg Config, reg prometheus.Registerer, opts ...actor.PropsOption) (*actor.Props, error) {
	m, err := newCacheMetrics(reg)
	return actorkit.Props(func() actor.Actor {
		return &cache{cfg: cfg, m: m, backlog: map[string]*backlog{}, byContent: map[string]*backlog{}}
	}, opts...), err
}

// Receive implements actor.Actor.
func (c *cache) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *apiv1.OpenCache:
		ctx.Respond(c.open(c.backlogs(msg.GetContentTopic()), msg.GetTopic()))
	case *apiv1.CloseCache:
		m := c.backlogs(msg.GetContentTopic())
		_, found := m[msg.GetTopic()]
		delete(m, msg.GetTopic())
		c.m.messages.DeleteLabelValues(msg.GetTopic())
		ctx.Respond(&apiv1.CacheClosed{Topic: msg.GetTopic(), Found: found})
	case *apiv1.DrainCache:
		ctx.Respond(c.drain(c.backlogs(msg.GetContentTopic()), msg.GetTopic()))
	case *apiv1.MessageReceived:
		c.add(msg)
	}
}

// backlogs are the pubsub-topic backlogs, or the content-topic ones.
func (c *cache) backlogs(contentTopic bool) map[string]*backlog {
	if contentTopic {
		return c.byContent
	}
	return c.backlog
}

func (c *cache) open(backlogs map[string]*backlog, topic string) *apiv1.CacheOpened {
	if _, ok := backlogs[topic]; ok {
		return &apiv1.CacheOpened{Topic: topic}
	}
	if len(c.backlog)+len(c.byContent) >= c.cfg.MaxCachedTopics {
		return &apiv1.CacheOpened{Topic: topic, Error: "the REST relay cache already holds its maximum of topics"}
	}
	backlogs[topic] = &backlog{}
	c.m.messages.WithLabelValues(topic).Set(0)
	return &apiv1.CacheOpened{Topic: topic}
}

// add appends msg, dropping the oldest message when the topic is full:
// a REST client that stops polling must not grow the node's memory.
func (c *cache) add(msg *apiv1.MessageReceived) {
	kept := c.push(c.backlog, msg.GetTopic(), msg)
	if len(c.byContent) > 0 {
		var wm wakuv1.WakuMessage
		if proto.Unmarshal(msg.GetData(), &wm) == nil && c.push(c.byContent, wm.GetContentTopic(), msg) {
			kept = true
		}
	}
	if !kept {
		c.m.dropped.Inc()
	}
}

// push appends msg to the backlog key of backlogs, if open.
func (c *cache) push(backlogs map[string]*backlog, key string, msg *apiv1.MessageReceived) bool {
	b, ok := backlogs[key]
	if !ok {
		return false
	}
	if len(b.msgs) >= c.cfg.CacheCapacity {
		b.msgs[0] = nil
		b.msgs = b.msgs[1:]
		b.dropped++
		c.m.dropped.Inc()
	}
	b.msgs = append(b.msgs, msg)
	c.m.messages.WithLabelValues(key).Set(float64(len(b.msgs)))
	return true
}

func (c *cache) drain(backlogs map[string]*backlog, topic string) *apiv1.CacheDrained {
	b, ok := backlogs[topic]
	if !ok {
		return &apiv1.CacheDrained{Topic: topic}
	}
	out := &apiv1.CacheDrained{Topic: topic, Open: true, Messages: b.msgs, Dropped: b.dropped}
	backlogs[topic] = &backlog{}
	c.m.messages.WithLabelValues(topic).Set(0)
	return out
}
