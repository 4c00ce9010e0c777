package heartbeat

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
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

// newMetrics builds the collectors and registers them on reg (nil: none,
// they still count). A failure to register is returned for the actor to log;
// the collectors work regardless, because a name clash on the registry must
// not stop the node's only clock.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
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
	r := actorkit.Registrar{Reg: reg}
	m.registrations = actorkit.Add(&r, m.registrations)
	m.limit = actorkit.Add(&r, m.limit)
	m.ticksSent = actorkit.Add(&r, m.ticksSent)
	m.ticksMissed = actorkit.Add(&r, m.ticksMissed)
	m.tickLag = actorkit.Add(&r, m.tickLag)
	m.rejected = actorkit.Add(&r, m.rejected)
	m.dropped = actorkit.Add(&r, m.dropped)
	if err := r.Err(); err != nil {
		return m, fmt.Errorf("heartbeat metrics: %w", err)
	}
	return m, nil
}
