package storage

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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

func newMetrics(reg prometheus.Registerer) *metrics {
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
	if reg != nil {
		m.written = register(reg, m.written)
		m.txs = register(reg, m.txs)
		m.flushSecs = register(reg, m.flushSecs)
		m.pending = register(reg, m.pending)
		m.errors = register(reg, m.errors)
		m.loaded = register(reg, m.loaded)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same name, so that Props called twice on one registry (a node that
// rebuilds its storage actor) shares the series instead of failing. Any
// other registration error is a programming error (a name clash with a
// different metric) and leaves c working but unexported.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}
