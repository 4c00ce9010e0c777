package heartbeat

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the reason labels.
const (
	reasonInvalid    = "invalid"    // Register failed validation
	reasonFull       = "full"       // Register beyond MaxRegistrations
	reasonNoSender   = "no_sender"  // a request sent without a sender
	reasonUnexpected = "unexpected" // a message type the actor does not handle
)

type metrics struct {
	registrations prometheus.Gauge
	limit         prometheus.Gauge
	ticksSent     prometheus.Counter
	ticksMissed   prometheus.Counter
	tickLag       prometheus.Histogram
	rejected      *prometheus.CounterVec
	dropped       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		registrations: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_heartbeat_registrations",
			Help: "Tick registrations currently scheduled (bounded by Config.MaxRegistrations).",
		}),
		limit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_heartbeat_registrations_limit",
			Help: "Config.MaxRegistrations, to plot usage against the bound.",
		}),
		ticksSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peermesh_heartbeat_ticks_sent_total",
			Help: "Ticks sent to targets.",
		}),
		ticksMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "peermesh_heartbeat_ticks_missed_total",
			Help: "Ticks not sent because a stall coalesced them into a later tick.",
		}),
		tickLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "peermesh_heartbeat_tick_lag_seconds",
			Help:    "How late a tick was sent against the due time of the earliest tick it stands for.",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30},
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_heartbeat_registrations_rejected_total",
			Help: "Register requests answered with an error, by reason (invalid, full).",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_heartbeat_messages_dropped_total",
			Help: "Messages dropped unanswered, by reason (no_sender, unexpected).",
		}, []string{"reason"}),
	}
	var err error
	m.registrations = register(reg, m.registrations, &err)
	m.limit = register(reg, m.limit, &err)
	m.ticksSent = register(reg, m.ticksSent, &err)
	m.ticksMissed = register(reg, m.ticksMissed, &err)
	m.tickLag = register(reg, m.tickLag, &err)
	m.rejected = register(reg, m.rejected, &err)
	m.dropped = register(reg, m.dropped, &err)
	if err != nil {
		return nil, fmt.Errorf("heartbeat metrics: %w", err)
	}
	return m, nil
}

// register adds c to reg. When an identical collector is already there (two
// heartbeat actors on one registry) it shares that one rather than failing;
// any other error is kept in *errp.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	*errp = errors.Join(*errp, err)
	return c
}
