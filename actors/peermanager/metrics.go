package peermanager

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// metrics are the seed's waku_* series (so Waku dashboards work) plus the
// peer manager's own limits. waku_peers_dials{outcome} is the dial pool's.
type metrics struct {
	errors         *prometheus.CounterVec
	connsInitiated *prometheus.CounterVec
	servicePeers   *prometheus.GaugeVec
	connectedPeers *prometheus.GaugeVec
	streamsPeers   *prometheus.GaugeVec
	storeSize      prometheus.Gauge
	pruned         *prometheus.CounterVec
	deferred       *prometheus.CounterVec
	pendingDials   prometheus.Gauge
	pendingReqs    prometheus.Gauge
	interned       prometheus.Gauge
}

// newMetrics builds the collectors and registers them on reg (none when
// nil). A registration error is returned, the collectors still work.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waku_peers_errors",
			Help: "Number of peer manager errors, by type."}, []string{"type"}),
		// waku_node_conns_initiated itself belongs to the dial pool, which
		// sees every dial whoever asks; this counts the peer manager's own.
		connsInitiated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_peermanager_conns_initiated_total",
			Help: "Connections established by dials the peer manager asked for, by source (the node-wide figure is the dial pool's waku_node_conns_initiated)."}, []string{"source"}),
		servicePeers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "waku_service_peers",
			Help: "Service peer protocol and multiaddress."}, []string{"protocol", "peerId"}),
		connectedPeers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "waku_connected_peers",
			Help: "Number of physical connections per direction and protocol."}, []string{"direction", "protocol"}),
		streamsPeers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "waku_streams_peers",
			Help: "Number of streams per direction and protocol."}, []string{"direction", "protocol"}),
		storeSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_peer_store_size",
			Help: "Number of peers managed by the peer store."}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_peermanager_pruned_total",
			Help: "Peers disconnected or deleted by a limit, by reason (colocation, inbound_relay, max_connections, not_relay, peer_store)."}, []string{"reason"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "peermesh_peermanager_dials_deferred_total",
			Help: "Failed dials not counted against the peer, by reason (offline)."}, []string{"reason"}),
		pendingDials: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_peermanager_dials_pending",
			Help: "Dials the peer manager asked of the pool that have not completed."}),
		pendingReqs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_peermanager_requests_pending",
			Help: "Requests waiting for dials (bounded by MaxPendingRequests)."}),
		interned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_peermanager_interned_strings",
			Help: "Protocol, agent and version strings shared between peer records (bounded by MaxInternedStrings; once full, new strings are stored unshared)."}),
	}
	// actorkit.Add shares the series with an equal collector already on reg
	// (a second peer manager, or Props rebuilt on one registry) instead of
	// leaving this one's counts unexported.
	r := actorkit.Registrar{Reg: reg}
	m.errors = actorkit.Add(&r, m.errors)
	m.connsInitiated = actorkit.Add(&r, m.connsInitiated)
	m.servicePeers = actorkit.Add(&r, m.servicePeers)
	m.connectedPeers = actorkit.Add(&r, m.connectedPeers)
	m.streamsPeers = actorkit.Add(&r, m.streamsPeers)
	m.storeSize = actorkit.Add(&r, m.storeSize)
	m.pruned = actorkit.Add(&r, m.pruned)
	m.deferred = actorkit.Add(&r, m.deferred)
	m.pendingDials = actorkit.Add(&r, m.pendingDials)
	m.pendingReqs = actorkit.Add(&r, m.pendingReqs)
	m.interned = actorkit.Add(&r, m.interned)
	return m, r.Err()
}

// apply executes one metric effect of the core.
func (m *metrics) apply(op MetricOp) {
	var vec *prometheus.MetricVec
	var counter *prometheus.CounterVec
	var gauge *prometheus.GaugeVec
	switch op.Name {
	case MetricErrors:
		counter = m.errors
	case MetricConnsInitiated:
		counter = m.connsInitiated
	case MetricPruned:
		counter = m.pruned
	case MetricDialsDeferred:
		counter = m.deferred
	case MetricServicePeers:
		gauge = m.servicePeers
	case MetricConnectedPeers:
		gauge = m.connectedPeers
	case MetricStoreSize:
		m.storeSize.Set(op.Value)
		return
	default:
		return
	}
	if counter != nil {
		vec = counter.MetricVec
	} else {
		vec = gauge.MetricVec
	}
	switch {
	case op.Reset:
		vec.Reset()
	case op.Delete:
		vec.DeleteLabelValues(op.Labels...)
	case counter != nil:
		counter.WithLabelValues(op.Labels...).Add(op.Value)
	case op.Set:
		gauge.WithLabelValues(op.Labels...).Set(op.Value)
	default:
		gauge.WithLabelValues(op.Labels...).Add(op.Value)
	}
}
