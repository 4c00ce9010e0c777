package storage

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// Error types: the "type" label of peermesh_storage_errors_total. The drop
// reasons of the core (DropReason) are the others.
const (
	errWrite          = "write"           // a WriteBatch failed; its changes stay pending
	errDecode         = "decode"          // a stored record was skipped at load
	errLoad           = "load"            // a LoadAll failed as a whole
	errInvalidRequest = "invalid_request" // a LoadAll without a sender, a Tick of another name
)

// metrics of the storage actor. The storage actor has no counterpart in the
// seeds, so its names carry the peermesh_storage_ prefix.
type metrics struct {
	written   *prometheus.CounterVec
	txs       *prometheus.CounterVec
	flushSecs prometheus.Histogram
	pending   prometheus.Gauge
	errors    *prometheus.CounterVec
	loaded    prometheus.Counter
}

// newMetrics builds the collectors and registers them on reg (nil: none).
// A collector already registered under the same name (Props called twice on
// one registry, by a node that rebuilds its storage actor) is shared. Any
// other failure (a name clash with a different metric) is returned for the
// actor to log; the collectors keep working, unexported, because a metric is
// not worth losing peer records for.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_storage_changes_written_total",
			Help: "Peer record changes made durable, by operation (put, delete).",
		}, []string{"op"}),
		txs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_storage_transactions_total",
			Help: "Backend write transactions, by outcome (ok, error).",
		}, []string{"outcome"}),
		flushSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peermesh_storage_flush_duration_seconds",
			Help:    "Time from the start of a write transaction until it is durable (fsync'd).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_storage_pending_changes",
			Help: "Changes accepted but not yet durable (pending plus in flight); bounded by MaxPending.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_storage_errors_total",
			Help: "Storage errors and refused inputs, by type.",
		}, []string{"type"}),
		loaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peermesh_storage_records_loaded_total",
			Help: "Records returned by LoadAll.",
		}),
	}
	r := actorkit.Registrar{Reg: reg}
	m.written = actorkit.Add(&r, m.written)
	m.txs = actorkit.Add(&r, m.txs)
	m.flushSecs = actorkit.Add(&r, m.flushSecs)
	m.pending = actorkit.Add(&r, m.pending)
	m.errors = actorkit.Add(&r, m.errors)
	m.loaded = actorkit.Add(&r, m.loaded)
	if err := r.Err(); err != nil {
		return m, fmt.Errorf("storage metrics: %w", err)
	}
	return m, nil
}
