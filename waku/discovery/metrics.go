package discovery

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are nwaku's discv5 and peer-exchange metrics (same names and
// kinds: several are gauges that only grow, as nwaku declares them) and
// peermesh's own for every bound.
type metrics struct {
	discovered    prometheus.Gauge       // waku_discv5_discovered
	discv5Errors  *prometheus.GaugeVec   // waku_discv5_errors{type}
	pxReceived    prometheus.Gauge       // waku_px_peers_received_total
	pxUnknown     prometheus.Gauge       // waku_px_peers_received_unknown
	pxSent        prometheus.Counter     // waku_px_peers_sent
	pxCached      prometheus.Gauge       // waku_px_peers_cached
	pxErrors      *prometheus.CounterVec // waku_px_errors{type}
	records       *prometheus.CounterVec // peermesh_discovery_records_total{source,result}
	found         prometheus.Gauge       // peermesh_discovery_found
	table         prometheus.Gauge       // peermesh_discv5_table_nodes
	rounds        *prometheus.CounterVec // peermesh_discovery_rounds_total{kind}
	served        *prometheus.CounterVec // peermesh_px_served_total{result}
	serving       prometheus.Gauge       // peermesh_px_serving
	collectorList []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		discovered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_discv5_discovered",
			Help: "Records found by discv5 that passed the cluster, shard and waku2 checks (counts up, as nwaku's gauge)."}),
		discv5Errors: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "waku_discv5_errors",
			Help: "discv5 errors by type (counts up, as nwaku's gauge)."}, []string{"type"}),
		pxReceived: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_px_peers_received_total",
			Help: "Records received through peer exchange (counts up, as nwaku's gauge)."}),
		pxUnknown: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_px_peers_received_unknown",
			Help: "Records received through peer exchange of peers not known before (counts up, as nwaku's gauge)."}),
		pxSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "waku_px_peers_sent",
			Help: "Records sent to peer-exchange requesters."}),
		pxCached: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_px_peers_cached",
			Help: "Records found through discv5 that peer exchange serves."}),
		pxErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waku_px_errors",
			Help: "Peer-exchange errors by type (requests made and served)."}, []string{"type"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_discovery_records_total",
			Help: "Node records discovery read, by source (discv5, bootstrap, px) and result (added, known, invalid, self, not_waku, other_cluster, no_shards, other_shards, no_address)."},
			[]string{"source", "result"}),
		found: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_discovery_found",
			Help: "Records kept by discovery (bounded by its MaxFound; the least recently seen is forgotten beyond)."}),
		table: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_discv5_table_nodes",
			Help: "Nodes in the discv5 routing table after the last round."}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_discovery_rounds_total",
			Help: "Discovery rounds started: discv5 lookups and peer-exchange requests."}, []string{"kind"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_px_served_total",
			Help: "Inbound peer-exchange requests by result (ok, rate_limited, bad_request, busy, failed)."}, []string{"result"}),
		serving: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_px_serving",
			Help: "Inbound peer-exchange streams being answered (bounded by MaxServing)."}),
	}
	m.collectorList = []prometheus.Collector{m.discovered, m.discv5Errors, m.pxReceived, m.pxUnknown, m.pxSent, m.pxCached,
		m.pxErrors, m.records, m.found, m.table, m.rounds, m.served, m.serving}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range m.collectorList {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return m, errors.Join(errs...)
}

// count adds the tallies of a core call.
func (m *metrics) count(tallies []Tally) {
	for _, t := range tallies {
		m.records.WithLabelValues(t.Source, t.Result).Add(float64(t.N))
		switch {
		case t.Source == SourceDiscv5 && (t.Result == ResultAdded || t.Result == ResultKnown):
			m.discovered.Add(float64(t.N))
		case t.Source == SourcePX:
			m.pxReceived.Add(float64(t.N))
			if t.Result == ResultAdded {
				m.pxUnknown.Add(float64(t.N))
			}
		}
	}
}
