package peermesh

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// nodeMetrics make the node actor's own bounds visible.
type nodeMetrics struct {
	topics      prometheus.Gauge
	subscribers prometheus.Gauge
	watchers    prometheus.Gauge
	refused     *prometheus.CounterVec
	delivered   prometheus.Counter
	px          *prometheus.CounterVec
	invalid     *prometheus.CounterVec
	mailboxes   *actorkit.MailboxMetrics
}

func newNodeMetrics(reg prometheus.Registerer) (*nodeMetrics, error) {
	m := &nodeMetrics{
		topics: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_node_topics", Help: "Pubsub topics the node has joined (limit: MaxTopics).",
		}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_node_subscribers", Help: "Local subscriber actors over all topics (limit per topic: MaxSubscribers).",
		}),
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_node_watchers", Help: "Watcher actors receiving node events (limit: MaxWatchers).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_node_refused_total", Help: "API requests refused because a limit was reached, by limit.",
		}, []string{"limit"}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peermesh_node_messages_delivered_total", Help: "MessageReceived events sent to local subscribers and watchers.",
		}),
	}
	m.px = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "peermesh_node_px_peers_total",
		Help: "Peers received through gossipsub peer exchange: added to the peer manager, or skipped (no valid signed record, over the per-PRUNE bound).",
	}, []string{"result"})
	m.invalid = newInvalidMessagesCounter()
	// A non-protobuf message between actors is a programming error that
	// production only counts (actorkit.ProtoOnly); make the count visible.
	violations := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "peermesh_actor_protobuf_violations_total",
		Help: "Non-protobuf messages sent between actors in this process (should stay 0).",
	}, func() float64 { return float64(actorkit.Violations()) })
	for _, c := range []prometheus.Collector{m.topics, m.subscribers, m.watchers, m.refused, m.delivered, m.px, m.invalid, violations} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register node metrics: %w", err)
		}
	}
	mb, err := actorkit.NewMailboxMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register mailbox metrics: %w", err)
	}
	m.mailboxes = mb
	return m, nil
}
