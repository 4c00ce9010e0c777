package mesh

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of all topic actors of a router, named as nim-libp2p's
// gossipsub/behavior.nim names them. Gauges with a topic label are per topic;
// the *_topics gauges count topics in each health state; counters are fed
// with the deltas of each topic's Stats. A nil *Metrics records nothing.
type Metrics struct {
	meshPeers, fanoutPeers, topicPeers *prometheus.GaugeVec
	seenBytes                          *prometheus.GaugeVec
	mailboxDepth                       *prometheus.GaugeVec
	mailboxDrops                       *prometheus.CounterVec
	cacheWindow                        prometheus.Gauge
	noPeers, lowPeers, healthy, underD prometheus.Gauge
	aboveDhi                           *prometheus.CounterVec
	receivedIWants                     *prometheus.GaugeVec
	broadcastIHave                     prometheus.Counter
	iwantsRepeated                     prometheus.Counter
	drops                              *prometheus.CounterVec
	validation                         *prometheus.CounterVec
	admission                          *prometheus.CounterVec
	publishHeld, congestedTopics       prometheus.Gauge
}

// NewMetrics registers the topic metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gv := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"topic"})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &Metrics{
		meshPeers:   gv("libp2p_gossipsub_peers_per_topic_mesh", "gossipsub peers per topic in mesh"),
		fanoutPeers: gv("libp2p_gossipsub_peers_per_topic_fanout", "gossipsub peers per topic in fanout"),
		topicPeers:  gv("libp2p_gossipsub_peers_per_topic_gossipsub", "gossipsub peers per topic in gossipsub"),
		seenBytes:   gv("libp2p_gossipsub_seen_cache_bytes", "estimated memory of the topic's seen cache (bounded by MaxSeenBytes)"),
		mailboxDepth: gv("libp2p_gossipsub_topic_mailbox_depth",
			"highest number of messages waiting in the topic actor's mailbox during the last heartbeat (bounded by MaxMailbox for received messages and gossip)"),
		mailboxDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_topic_mailbox_drops_total",
			Help: "Received messages and IHAVE/IWANT dropped because a topic actor's mailbox held MaxMailbox, by kind"}, []string{"kind"}),
		// One gauge summed over topics (nim's is unlabelled): each topic adds
		// the change of its own window, so topics do not overwrite each other.
		cacheWindow: g("libp2p_gossipsub_cache_window_size", "the number of messages in the cache windows advertised last, summed over topics"),
		noPeers:     g("libp2p_gossipsub_no_peers_topics", "number of topics in mesh with no peers"),
		lowPeers:    g("libp2p_gossipsub_low_peers_topics", "number of topics in mesh with at least one but below dlow peers"),
		healthy:     g("libp2p_gossipsub_healthy_peers_topics", "number of topics in mesh with at least dlow peers"),
		underD:      g("libp2p_gossipsub_under_dout_topics", "number of topics below dout"),
		aboveDhi: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_above_dhigh_condition",
			Help: "number of above dhigh pruning branches ran"}, []string{"topic"}),
		receivedIWants: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "libp2p_gossipsub_received_iwants",
			Help: "received iwants"}, []string{"kind"}),
		broadcastIHave: prometheus.NewCounter(prometheus.CounterOpts{Name: "libp2p_pubsub_broadcast_ihave",
			Help: "IHAVE messages broadcast (one per peer)"}),
		iwantsRepeated: prometheus.NewCounter(prometheus.CounterOpts{Name: "libp2p_gossipsub_iwants_repeated_total",
			Help: "ids asked (IWANT) of a second advertiser because the peer asked in an earlier heartbeat has not delivered them yet (ADR 0032)"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_topic_drops_total",
			Help: "Entries refused or evicted by a topic's bounds, by reason"}, []string{"reason"}),
		validation: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_validation_results_total",
			Help: "Validation outcomes of received messages (timeout counts as ignore)"}, []string{"outcome"}),
		admission: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "libp2p_gossipsub_publish_admission_total",
			Help: "Our own publishes by admission outcome (ADR 0030): admitted at once, held, refused (admission queue full), released_early (healthy again), released_late (after MaxHold)"},
			[]string{"outcome"}),
		publishHeld: g("libp2p_gossipsub_publish_held", "our own publishes held by admission now, summed over topics (bounded by Admission.MaxHeld per topic)"),
		congestedTopics: g("libp2p_gossipsub_publish_congested_topics",
			"topics whose actor holds publishes because received messages wait longer than Admission.Target"),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.meshPeers, m.fanoutPeers, m.topicPeers, m.seenBytes, m.mailboxDepth, m.mailboxDrops, m.cacheWindow, m.noPeers,
		m.lowPeers, m.healthy, m.underD, m.aboveDhi, m.receivedIWants, m.broadcastIHave, m.iwantsRepeated, m.drops, m.validation,
		m.admission, m.publishHeld, m.congestedTopics} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// observe publishes the difference between two Stats snapshots of a topic.
// A per-topic gauge is set only when its value changed (or on the first
// observation, first): looking a labelled series up is most of the cost,
// and with hundreds of topic actors per node an idle heartbeat's gauge
// updates were 12 % of the process's idle CPU (M2).
func (m *Metrics) observe(topic string, prev, cur Stats, first bool) {
	if m == nil {
		return
	}
	for _, g := range []struct {
		vec     *prometheus.GaugeVec
		was, is int
	}{
		{m.meshPeers, prev.MeshPeers, cur.MeshPeers}, {m.fanoutPeers, prev.FanoutPeers, cur.FanoutPeers},
		{m.topicPeers, prev.TopicPeers, cur.TopicPeers}, {m.seenBytes, prev.SeenBytes, cur.SeenBytes},
		{m.mailboxDepth, prev.MailboxDepth, cur.MailboxDepth},
	} {
		if first || g.was != g.is {
			g.vec.WithLabelValues(topic).Set(float64(g.is))
		}
	}
	if d := cur.MailboxDropped - prev.MailboxDropped; d > 0 {
		m.mailboxDrops.WithLabelValues("messages").Add(float64(d))
	}
	if d := cur.MailboxDroppedGossip - prev.MailboxDroppedGossip; d > 0 {
		m.mailboxDrops.WithLabelValues("gossip").Add(float64(d))
	}
	m.cacheWindow.Add(float64(cur.CacheWindowSize - prev.CacheWindowSize))
	health := func(g prometheus.Gauge, was, is bool) {
		if was != is {
			if is {
				g.Inc()
			} else {
				g.Dec()
			}
		}
	}
	health(m.noPeers, prev.NoPeers, cur.NoPeers)
	health(m.lowPeers, prev.LowPeers, cur.LowPeers)
	health(m.healthy, prev.HealthyPeers, cur.HealthyPeers)
	health(m.underD, prev.UnderDout, cur.UnderDout)
	if d := cur.AboveDhiConditions - prev.AboveDhiConditions; d > 0 {
		m.aboveDhi.WithLabelValues(topic).Add(float64(d))
	}
	for k := range cur.ReceivedIWants {
		if d := cur.ReceivedIWants[k] - prev.ReceivedIWants[k]; d > 0 {
			m.receivedIWants.WithLabelValues(IWantKind(k).String()).Add(float64(d))
		}
	}
	m.broadcastIHave.Add(float64(cur.BroadcastIHaves - prev.BroadcastIHaves))
	m.iwantsRepeated.Add(float64(cur.IWantsRepeated - prev.IWantsRepeated))
	for _, d := range []struct {
		reason   string
		cur, old uint64
	}{
		{"peers_full", cur.PeersRejected, prev.PeersRejected},
		{"backoff_evicted", cur.BackoffEvicted, prev.BackoffEvicted},
		{"seen_evicted", cur.SeenEvicted, prev.SeenEvicted},
		{"known_unseen", cur.KnownUnseen, prev.KnownUnseen},
		{"cache_full", cur.CacheDropped, prev.CacheDropped},
		{"validation_full", cur.ValidationDropped, prev.ValidationDropped},
		{"promises_full", cur.PromisesDropped, prev.PromisesDropped},
		{"promise_forgiven", cur.PromisesForgiven, prev.PromisesForgiven},
		{"idontwant_over_budget", cur.IDontWantDropped, prev.IDontWantDropped},
		{"iwant_retransmit", cur.IWantRetransmitIgnored, prev.IWantRetransmitIgnored},
		{"px_ignored", cur.PXIgnored, prev.PXIgnored},
	} {
		if d.cur > d.old {
			m.drops.WithLabelValues(d.reason).Add(float64(d.cur - d.old))
		}
	}
}

// forget removes a stopped topic from the health gauges and per-topic series.
func (m *Metrics) forget(topic string, last Stats) {
	if m == nil {
		return
	}
	m.observe(topic, last, Stats{AboveDhiConditions: last.AboveDhiConditions, ReceivedIWants: last.ReceivedIWants,
		BroadcastIHaves: last.BroadcastIHaves, IWantsRepeated: last.IWantsRepeated, PeersRejected: last.PeersRejected, BackoffEvicted: last.BackoffEvicted,
		SeenEvicted: last.SeenEvicted, KnownUnseen: last.KnownUnseen, CacheDropped: last.CacheDropped, ValidationDropped: last.ValidationDropped,
		PromisesDropped: last.PromisesDropped, IDontWantDropped: last.IDontWantDropped, PromisesForgiven: last.PromisesForgiven,
		MailboxDropped: last.MailboxDropped, MailboxDroppedGossip: last.MailboxDroppedGossip,
		IWantRetransmitIgnored: last.IWantRetransmitIgnored, PXIgnored: last.PXIgnored}, false)
	m.meshPeers.DeleteLabelValues(topic)
	m.fanoutPeers.DeleteLabelValues(topic)
	m.topicPeers.DeleteLabelValues(topic)
	m.seenBytes.DeleteLabelValues(topic)
	m.mailboxDepth.DeleteLabelValues(topic)
	m.aboveDhi.DeleteLabelValues(topic)
}

func (m *Metrics) validated(outcome string) {
	if m != nil {
		m.validation.WithLabelValues(outcome).Inc()
	}
}

// admitted publishes the difference between two admission snapshots of a
// topic (called only when admission changed something).
func (m *Metrics) admitted(prev, cur AdmissionStats) {
	if m == nil {
		return
	}
	for _, d := range []struct {
		outcome  string
		cur, old uint64
	}{
		{"admitted", cur.Admitted, prev.Admitted}, {"held", cur.Held, prev.Held}, {"refused", cur.Refused, prev.Refused},
		{"released_early", cur.ReleasedEarly, prev.ReleasedEarly}, {"released_late", cur.ReleasedLate, prev.ReleasedLate},
	} {
		if d.cur > d.old {
			m.admission.WithLabelValues(d.outcome).Add(float64(d.cur - d.old))
		}
	}
	if cur.Holding != prev.Holding {
		m.publishHeld.Add(float64(cur.Holding - prev.Holding))
	}
	if cur.Congested != prev.Congested {
		if cur.Congested {
			m.congestedTopics.Inc()
		} else {
			m.congestedTopics.Dec()
		}
	}
}
