package session

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/internal/actorkit"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
)

// Metrics are shared by every session of a router (the collectors are safe
// for concurrent use). A nil *Metrics records nothing.
type Metrics struct {
	queueDrops      *prometheus.CounterVec
	queueExpired    *prometheus.CounterVec
	queueBytes      prometheus.Gauge
	frameRejections *prometheus.CounterVec
	rpcDrops        *prometheus.CounterVec
	idontwantSaved  prometheus.Counter
	idontwantElided prometheus.Counter
	cancelledByCopy prometheus.Counter
	writes          prometheus.Counter
	reopens         prometheus.Counter
	writtenRPCs     prometheus.Counter
	writtenBytes    prometheus.Counter
	mailbox         prometheus.Gauge
	panics          *prometheus.CounterVec
	badFrameCloses  prometheus.Counter
	knownCopies     prometheus.Counter
}

var priorityLabels = [numLanes]string{"control", "publish", "forward", "gossip"}

// NewMetrics registers the session metrics on reg (nil: a private registry,
// for tests and benchmarks that do not look at metrics).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	byLabel := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &Metrics{
		queueDrops: byLabel("libp2p_pubsub_queue_drops_total",
			"Outbound items dropped because a peer's queue was full, by priority.", "priority"),
		queueExpired: byLabel("libp2p_pubsub_queue_expired_total",
			"Outbound items dropped because they waited longer than their priority's age limit, by priority.", "priority"),
		queueBytes: gauge("libp2p_pubsub_queue_bytes", "Bytes held in all peers' outbound queues."),
		frameRejections: byLabel("libp2p_pubsub_frame_rejections_total",
			"Inbound streams reset because of a bad frame, by reason.", "reason"),
		rpcDrops: byLabel("libp2p_pubsub_inbound_drops_total", "Inbound RPC parts ignored, by reason.", "reason"),
		idontwantSaved: counter("libp2p_gossipsub_idontwant_saved_messages",
			"Messages not sent (skipped or cancelled in the queue) because the peer sent IDONTWANT."),
		idontwantElided: counter("libp2p_gossipsub_idontwant_elided_total",
			"IDONTWANT ids not sent because the same frame carries the message to that peer."),
		cancelledByCopy: counter("libp2p_gossipsub_cancelled_by_copy_total",
			"Queued messages not sent because the peer sent us the same message first."),
		writes:       counter("libp2p_pubsub_stream_writes_total", "Batched writes to outbound pubsub streams."),
		reopens:      counter("libp2p_pubsub_outbound_reopens_total", "Outbound pubsub streams reopened by their session after a failure."),
		writtenRPCs:  counter("libp2p_pubsub_written_items_total", "Queued items written to outbound pubsub streams."),
		writtenBytes: counter("libp2p_pubsub_written_bytes_total", "Bytes written to outbound pubsub streams."),
		mailbox: gauge("libp2p_pubsub_session_mailbox_backlog",
			"Messages waiting in peer session mailboxes (before the byte-bounded queue)."),
		panics: byLabel("libp2p_pubsub_stream_panics_total",
			"Panics recovered in pubsub stream goroutines (the stream failed, the process went on), by direction.", "direction"),
		badFrameCloses: counter("libp2p_pubsub_bad_frame_disconnects_total",
			"Peers disconnected for sending more than MaxBadFramesPerHeartbeat bad frames in a heartbeat."),
		knownCopies: counter("libp2p_pubsub_known_copies_total",
			"Received message copies passed on as topic and id only, never copied out of the frame: a topic actor had already seen their id (ADR 0027)."),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.queueDrops, m.queueExpired, m.queueBytes, m.frameRejections, m.rpcDrops,
		m.idontwantSaved, m.idontwantElided, m.cancelledByCopy, m.writes, m.reopens, m.writtenRPCs, m.writtenBytes, m.mailbox, m.panics, m.badFrameCloses, m.knownCopies} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) drops(d Drops) {
	if m == nil {
		return
	}
	for i, n := range d {
		if n > 0 {
			m.queueDrops.WithLabelValues(priorityLabels[i]).Add(float64(n))
		}
	}
}

func (m *Metrics) counts(c Counts) {
	if m == nil {
		return
	}
	m.drops(c.Drops)
	for i, n := range c.Expired {
		if n > 0 {
			m.queueExpired.WithLabelValues(priorityLabels[i]).Add(float64(n))
		}
	}
	if n := c.DontWantSkipped + c.Cancelled; n > 0 {
		m.idontwantSaved.Add(float64(n))
	}
	if c.IDontWantElided > 0 {
		m.idontwantElided.Add(float64(c.IDontWantElided))
	}
	if c.CancelledByCopy > 0 {
		m.cancelledByCopy.Add(float64(c.CancelledByCopy))
	}
	if c.Duplicates > 0 {
		m.rpcDrops.WithLabelValues("outbound_duplicate").Add(float64(c.Duplicates))
	}
	if c.Unsupported > 0 {
		m.rpcDrops.WithLabelValues("idontwant_unsupported").Add(float64(c.Unsupported))
	}
	if c.OverBudget > 0 {
		m.rpcDrops.WithLabelValues("over_budget").Add(float64(c.OverBudget))
	}
}

func (m *Metrics) queueDelta(d int) {
	if m != nil && d != 0 {
		m.queueBytes.Add(float64(d))
	}
}

// FrameRejected counts a stream reset for a bad frame.
func (m *Metrics) FrameRejected(reason string) {
	if m != nil {
		m.frameRejections.WithLabelValues(reason).Inc()
	}
}

// Panicked counts a panic recovered in a stream goroutine ("inbound" reader,
// "outbound" writer).
func (m *Metrics) Panicked(direction string) {
	if m != nil {
		m.panics.WithLabelValues(direction).Inc()
	}
}

// Dropped counts n inbound parts ignored for reason.
func (m *Metrics) Dropped(reason string, n int) {
	if m != nil && n > 0 {
		m.rpcDrops.WithLabelValues(reason).Add(float64(n))
	}
}

func (m *Metrics) knownCopiesRead(n int) {
	if m == nil || n == 0 {
		return
	}
	m.knownCopies.Add(float64(n))
}

func (m *Metrics) badFrameDisconnect() {
	if m != nil {
		m.badFrameCloses.Inc()
	}
}

func (m *Metrics) reopened() {
	if m != nil {
		m.reopens.Inc()
	}
}

func (m *Metrics) wrote(items, bytes int) {
	if m != nil {
		m.writes.Inc()
		m.writtenRPCs.Add(float64(items))
		m.writtenBytes.Add(float64(bytes))
	}
}

// mailbox is the policy of a session's mailbox (an actorkit.InlineMailbox):
// the router's heartbeat Tick to an idle session is handled in the router's
// goroutine, that Tick only (ADR 0029), and a gauge keeps the messages
// waiting in the session mailboxes. Nothing is dropped: the session bounds
// its queue in bytes once a SendToPeer is dequeued, and the gauge shows
// whether the mailbox in front of it ever builds up (it only can when the
// CPU is saturated: enqueueing costs well under a microsecond).
type mailbox struct {
	g    prometheus.Gauge // nil without metrics
	last int              // depth last told, under the mailbox's lock
}

func (b *mailbox) Inline(msg any) bool {
	_, tick := msg.(*heartbeatv1.Tick)
	return tick
}

func (b *mailbox) Admit(any, int) bool { return true }

func (b *mailbox) Depth(d int) {
	if b.g != nil {
		b.g.Add(float64(d - b.last))
	}
	b.last = d
}

func (m *Metrics) mailboxOptions() []actor.PropsOption {
	var g prometheus.Gauge
	if m != nil {
		g = m.mailbox
	}
	// One policy per mailbox: it remembers that mailbox's depth.
	return []actor.PropsOption{actor.WithMailbox(func() actor.Mailbox {
		return actorkit.NewInlineMailbox(&mailbox{g: g})()
	})}
}
