package metadata

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
)

type metrics struct {
	exchanges *prometheus.CounterVec
	served    *prometheus.CounterVec
	inFlight  prometheus.Gauge
	queued    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	r := &actorkit.Registrar{Reg: reg}
	m := &metrics{
		exchanges: actorkit.Add(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waku_metadata_exchanges_total",
			Help: "Metadata requests to newly connected peers, by result (ok, other_cluster, no_cluster, failed, dropped: not asked, the queue was full).",
		}, []string{"result"})),
		served: actorkit.Add(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waku_metadata_served_total", Help: "Inbound metadata requests, by result (ok, failed).",
		}, []string{"result"})),
		inFlight: actorkit.Add(r, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waku_metadata_in_flight", Help: "Metadata exchanges running (limit: MaxInFlight).",
		})),
		queued: actorkit.Add(r, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "waku_metadata_queued", Help: "Connected peers waiting for a metadata exchange (limit: MaxQueued).",
		})),
	}
	return m, r.Err()
}
