package router

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actors/mesh"
	"github.com/peermesh/peermesh/actors/router/session"
)

// metrics of the router itself, plus the shared session and topic metrics.
type metrics struct {
	peers     prometheus.Gauge
	refused   *prometheus.CounterVec
	penalties *prometheus.CounterVec
	graylist  prometheus.Gauge
	retained  prometheus.Gauge
	// directRedials counts redials of disconnected direct peers by result:
	// "sent" to the dial pool, "no_dialer", or the pool's DialOutcome.
	directRedials *prometheus.CounterVec
	session       *session.Metrics
	mesh          *mesh.Metrics
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		peers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "libp2p_pubsub_peers",
			Help: "Pubsub peers with a session."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_pubsub_refused_total",
			Help: "Requests and peers refused by a router bound, by reason."}, []string{"reason"}),
		penalties: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_behaviour_penalties_total",
			Help: "Behaviour penalties (P7) applied, by reason."}, []string{"reason"}),
		graylist: prometheus.NewGauge(prometheus.GaugeOpts{Name: "libp2p_gossipsub_graylisted_peers",
			Help: "Peers below the graylist threshold (connected, or disconnected with a retained score)."}),
		retained: prometheus.NewGauge(prometheus.GaugeOpts{Name: "libp2p_gossipsub_retained_peers",
			Help: "Disconnected peers whose score is kept for RetainScore (at most MaxPeers)."}),
		directRedials: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_direct_redials_total",
			Help: "Redials of disconnected direct peers, by result (sent, no_dialer, or the dial outcome)."}, []string{"result"}),
	}
	errs := []error{reg.Register(m.peers), reg.Register(m.refused), reg.Register(m.penalties), reg.Register(m.graylist),
		reg.Register(m.retained), reg.Register(m.directRedials)}
	var err error
	m.session, err = session.NewMetrics(reg)
	errs = append(errs, err)
	m.mesh, err = mesh.NewMetrics(reg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}
