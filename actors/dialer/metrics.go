package dialer

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// metrics of the pool. Names follow nwaku where it has one
// (waku_peers_dials{outcome}); the bounds of the pool have their own.
type metrics struct {
	dials      *prometheus.CounterVec
	inFlight   prometheus.Gauge
	queued     prometheus.Gauge
	duration   *prometheus.HistogramVec
	rejections *prometheus.CounterVec
	requests   *prometheus.CounterVec
	initiated  *prometheus.CounterVec

	dialsBy      [numOutcomes]prometheus.Counter
	durationBy   [numOutcomes]prometheus.Observer
	rejectionsBy [numRejectReasons]prometheus.Counter
	requestsBy   [numSources]prometheus.Counter
	initiatedBy  [numSources]prometheus.Counter
}

// Sizes of the label tables: every value of the enums, which are small and
// dense. A test checks they cover the generated enums.
const (
	numOutcomes = int(dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE) + 1
	numSources  = int(dialerv1.DialSource_DIAL_SOURCE_API) + 1
)

// newMetrics builds the collectors and registers them on reg (nil: none).
// A collector already registered by another pool on the same registry is
// reused, so two pools share one series (the gauges then describe whichever
// pool wrote last: give each pool its own registry or a wrapping one with a
// constant label). A collector that cannot be
// registered (a name clash) still counts, unexported, and the error is
// returned for the caller to log: metrics never stop the pool.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waku_peers_dials",
			Help: "Dials the pool ended, by outcome (connected, timeout, refused, unreachable, failed, cancelled), plus requests rejected without a dial (rejected).",
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_dialer_in_flight",
			Help: "Dials holding a slot of the pool (bounded by MaxInFlight).",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "peermesh_dialer_queue_length",
			Help: "Dials waiting for a free slot (bounded by MaxQueued).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "peermesh_dialer_dial_duration_seconds",
			Help:    "Time from a dial's start to its end, by outcome.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"outcome"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_dialer_rejections_total",
			Help: "DialPeer requests answered REJECTED without a dial, by reason.",
		}, []string{"reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "peermesh_dialer_requests_total",
			Help: "DialPeer requests received, by source (as waku_node_conns_initiated{source}).",
		}, []string{"source"}),
		initiated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waku_node_conns_initiated",
			Help: "Connections the pool's dials established, by the source of the request that created the dial (nwaku's metric).",
		}, []string{"source"}),
	}
	r := actorkit.Registrar{Reg: reg}
	m.dials = actorkit.Add(&r, m.dials)
	m.inFlight = actorkit.Add(&r, m.inFlight)
	m.queued = actorkit.Add(&r, m.queued)
	m.duration = actorkit.Add(&r, m.duration)
	m.rejections = actorkit.Add(&r, m.rejections)
	m.requests = actorkit.Add(&r, m.requests)
	m.initiated = actorkit.Add(&r, m.initiated)

	// Resolve the label values once: the hot path then touches no label map.
	for o := range m.dialsBy {
		label := outcomeLabel(dialerv1.DialOutcome(o))
		m.dialsBy[o] = m.dials.WithLabelValues(label)
		m.durationBy[o] = m.duration.WithLabelValues(label)
	}
	for why := range m.rejectionsBy {
		m.rejectionsBy[why] = m.rejections.WithLabelValues(RejectReason(why).String())
	}
	for s := range m.requestsBy {
		m.requestsBy[s] = m.requests.WithLabelValues(SourceLabel(dialerv1.DialSource(s)))
		m.initiatedBy[s] = m.initiated.WithLabelValues(SourceLabel(dialerv1.DialSource(s)))
	}
	if err := r.Err(); err != nil {
		return m, fmt.Errorf("dialer metrics: %w", err)
	}
	return m, nil
}

func outcomeLabel(o dialerv1.DialOutcome) string {
	return strings.ToLower(strings.TrimPrefix(o.String(), "DIAL_OUTCOME_"))
}

// SourceLabel is the {source} label of a dial source ("static", "relay"…);
// the peer manager uses it too, so its series match the pool's.
func SourceLabel(s dialerv1.DialSource) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "DIAL_SOURCE_"))
}

func (m *metrics) ended(e Ended) {
	o := e.Outcome
	if o < 0 || int(o) >= numOutcomes {
		o = dialerv1.DialOutcome_DIAL_OUTCOME_UNSPECIFIED
	}
	m.dialsBy[o].Inc()
	if e.Ran {
		m.durationBy[o].Observe(e.Took.Seconds())
	}
	if o == dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED && e.Source >= 0 && int(e.Source) < numSources {
		m.initiatedBy[e.Source].Inc()
	}
}

func (m *metrics) rejected(why RejectReason) {
	m.dialsBy[dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED].Inc()
	m.rejectionsBy[why].Inc()
}

// request counts a decoded request; src is valid after ParseDialPeer.
func (m *metrics) request(src dialerv1.DialSource) {
	if src >= 0 && int(src) < numSources {
		m.requestsBy[src].Inc()
	}
}

func (m *metrics) gauges(inFlight, queued int) {
	m.inFlight.Set(float64(inFlight))
	m.queued.Set(float64(queued))
}
