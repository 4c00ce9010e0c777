package peermesh

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics make the node actor's own bounds visible.
type nodeMetrics struct {
	topics      prometheus.Gauge
	subscribers prometheus.Gauge
	watchers    prometheus.Gauge
	refused     *prometheus.CounterVec
	delivered   prometheus.Counter
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
	for _, c := range []prometheus.Collector{m.topics, m.subscribers, m.watchers, m.refused, m.delivered} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register node metrics: %w", err)
		}
	}
	return m, nil
}
