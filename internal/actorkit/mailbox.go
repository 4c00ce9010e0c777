package actorkit

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// MailboxMetrics exports the depth of actor mailboxes. protoactor's default
// mailbox is unbounded; peermesh bounds the *sources* of messages instead
// (ADR 0005), and this gauge is how an operator sees whether that holds.
type MailboxMetrics struct {
	depth     *prometheus.GaugeVec
	highWater *prometheus.GaugeVec
}

// NewMailboxMetrics registers the mailbox gauges on reg.
func NewMailboxMetrics(reg prometheus.Registerer) (*MailboxMetrics, error) {
	m := &MailboxMetrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "peermesh_actor_mailbox_depth",
			Help: "Messages waiting in or being handled from an actor kind's mailboxes.",
		}, []string{"actor"}),
		highWater: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "peermesh_actor_mailbox_high_water",
			Help: "Largest mailbox depth seen for an actor kind since start.",
		}, []string{"actor"}),
	}
	// Registrar, like every actor's metrics: an equal pair already on reg is
	// shared rather than failing the second node built on one registry.
	r := Registrar{Reg: reg}
	m.depth = Add(&r, m.depth)
	m.highWater = Add(&r, m.highWater)
	if err := r.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Option returns the props option that installs a depth-tracking mailbox for
// actors of the given kind (e.g. "dialer", "session").
func (m *MailboxMetrics) Option(kind string) actor.PropsOption {
	k := &kindStats{depth: m.depth.WithLabelValues(kind), high: m.highWater.WithLabelValues(kind)}
	return actor.WithMailbox(func() actor.Mailbox {
		return actor.Unbounded(&depthTracker{kind: k})()
	})
}

// kindStats is shared by every mailbox of one actor kind.
type kindStats struct {
	depth prometheus.Gauge
	mu    sync.Mutex
	max   int64
	high  prometheus.Gauge
}

func (k *kindStats) observe(n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n > k.max {
		k.max = n
		k.high.Set(float64(n))
	}
}

// depthTracker is one mailbox's view: the high-water mark is the deepest
// single mailbox of the kind, the depth gauge the kind's total.
type depthTracker struct {
	n    atomic.Int64
	seen atomic.Int64
	kind *kindStats
}

func (d *depthTracker) MailboxStarted() {}

func (d *depthTracker) MessagePosted(any) {
	d.kind.depth.Inc()
	n := d.n.Add(1)
	// Take the lock only when this mailbox passes its own previous maximum.
	if n > d.seen.Load() {
		d.seen.Store(n)
		d.kind.observe(n)
	}
}

func (d *depthTracker) MessageReceived(any) {
	d.kind.depth.Dec()
	d.n.Add(-1)
}

func (d *depthTracker) MailboxEmpty() {}
