package router

import (
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

// peerInfo is what the router knows about one pubsub peer.
type peerInfo struct {
	outbound bool
	ips      []netip.Addr // the peer's connection addresses (P6)
	protocol string
	topics   map[string]bool
	// counters reported by topic actors, by topic (P1–P4).
	counters map[string]score.TopicCounters
	pc       score.PeerCounters // P5, P7
	score    float64
	gray     bool
	// connected is false for a peer kept after its disconnect for
	// RetainScore (since departed), so a reconnect does not wash its P7,
	// counters or graylisting away.
	connected bool
	departed  time.Time
}

// StatusChange is a peer whose graylist status changed in a Heartbeat.
type StatusChange struct {
	Peer       peer.ID
	Graylisted bool
	Score      float64
}

// Book is the router's pure bookkeeping: the peers with a session, the
// topics each announced (an observer copy of what the sessions own, ADR
// 0012), their score counters and the aggregated scores, and the scores of
// disconnected peers for RetainScore. It has no clock: Heartbeat and
// Disconnect take now. Bounds: MaxPeers connected peers (AddPeer refuses
// more), MaxPeers retained ones (the one that left first is forgotten to
// make room), MaxPeerTopics topics per peer (enforced by the session).
type Book struct {
	maxPeers   int
	params     score.Params
	thresholds score.Thresholds
	peers      map[peer.ID]*peerInfo
	connected  int
	ipPeers    map[netip.Addr]int // connected peers per IP address, for P6
	lastDecay  time.Time
	gray       int // graylisted peers (connected or retained) at the last Heartbeat
	// reported mirrors what each topic actor reported: its counters of every
	// peer it holds and the time of its last report (ADR 0029).
	reported map[string]*topicReport
}

// topicReport is the book's mirror of one topic actor's counters. Reports
// carry only changes, so the mirror is what a full report used to be: a
// peer the book forgot and sees again gets its counters back from it, and
// P1 (time in mesh) is derived from the graft time and asOf, as the topic
// actor's Refresh does at that heartbeat.
type topicReport struct {
	asOf  time.Time
	peers map[peer.ID]score.TopicCounters
}

// GraylistedPeers is the number of graylisted peers at the last Heartbeat.
func (b *Book) GraylistedPeers() int { return b.gray }

// NewBook returns an empty book scoring with params (whose Topics map the
// router fills as it joins topics) and thresholds.
func NewBook(maxPeers int, params score.Params, thresholds score.Thresholds) *Book {
	// The Config's map is shared by every router built from it: copy it.
	params.Topics = maps.Clone(params.Topics)
	if params.Topics == nil {
		params.Topics = map[string]score.TopicParams{}
	}
	return &Book{maxPeers: maxPeers, params: params, thresholds: thresholds, peers: map[peer.ID]*peerInfo{},
		ipPeers: map[netip.Addr]int{}, reported: map[string]*topicReport{}}
}

// AddPeer records a peer with a session, connected from ips (for the IP
// colocation factor P6); false when MaxPeers are connected. A peer retained
// since its disconnect comes back with its score counters and graylist
// status.
func (b *Book) AddPeer(id peer.ID, outbound bool, ips ...netip.Addr) bool {
	p, ok := b.peers[id]
	if ok && p.connected {
		return true
	}
	if b.connected >= b.maxPeers {
		return false
	}
	if !ok {
		p = &peerInfo{topics: map[string]bool{}, counters: map[string]score.TopicCounters{}}
		b.peers[id] = p
		for topic, r := range b.reported {
			if c, ok := r.peers[id]; ok {
				p.counters[topic] = c
			}
		}
	}
	p.connected, p.departed, p.outbound = true, time.Time{}, outbound
	p.ips = slices.Compact(slices.SortedFunc(slices.Values(ips), netip.Addr.Compare))
	for _, ip := range p.ips {
		b.ipPeers[ip]++
	}
	b.connected++
	return true
}

// Has reports whether the peer is connected (has a session).
func (b *Book) Has(id peer.ID) bool { p, ok := b.peers[id]; return ok && p.connected }

// Len is the number of connected peers.
func (b *Book) Len() int { return b.connected }

// Retained is the number of disconnected peers kept for RetainScore.
func (b *Book) Retained() int { return len(b.peers) - b.connected }

// Disconnect records that the peer's last connection closed at now: its
// topics, protocol and addresses are dropped, its score is kept for
// RetainScore (nim-libp2p#402, the spec's retain_score), unless RetainScore
// is 0. When MaxPeers peers are retained already, the one that left first is
// forgotten.
func (b *Book) Disconnect(id peer.ID, now time.Time) {
	p, ok := b.peers[id]
	if !ok || !p.connected {
		return
	}
	if b.params.RetainScore <= 0 {
		b.RemovePeer(id)
		return
	}
	if b.Retained() >= b.maxPeers {
		var oldest peer.ID
		var at time.Time
		for q, qi := range b.peers {
			if !qi.connected && (oldest == "" || qi.departed.Before(at) || (qi.departed.Equal(at) && q < oldest)) {
				oldest, at = q, qi.departed
			}
		}
		b.RemovePeer(oldest)
	}
	b.dropIPs(p)
	p.connected, p.departed, p.protocol = false, now, ""
	clear(p.topics)
	b.connected--
}

// RemovePeer forgets a peer at once (no retained score) and returns the
// topics it was subscribed to.
func (b *Book) RemovePeer(id peer.ID) []string {
	p, ok := b.peers[id]
	if !ok {
		return nil
	}
	delete(b.peers, id)
	if p.connected {
		b.connected--
		b.dropIPs(p)
	}
	return slices.Sorted(maps.Keys(p.topics))
}

func (b *Book) dropIPs(p *peerInfo) {
	for _, ip := range p.ips {
		if b.ipPeers[ip]--; b.ipPeers[ip] <= 0 {
			delete(b.ipPeers, ip)
		}
	}
	p.ips = nil
}

// Graylisted reports whether the peer is graylisted (also a retained one,
// so its new session starts graylisted), with its score.
func (b *Book) Graylisted(id peer.ID) (bool, float64) {
	p, ok := b.peers[id]
	if !ok {
		return false, 0
	}
	return p.gray, p.score
}

// Topics returns the topics the peer announced, sorted.
func (b *Book) Topics(id peer.ID) []string {
	p, ok := b.peers[id]
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(p.topics))
}

// SetProtocol records the negotiated protocol of our stream to the peer.
func (b *Book) SetProtocol(id peer.ID, protocol string) {
	if p, ok := b.peers[id]; ok {
		p.protocol = protocol
	}
}

// Peer returns the peer's direction and protocol.
func (b *Book) Peer(id peer.ID) (outbound bool, protocol string, ok bool) {
	p, ok := b.peers[id]
	if !ok {
		return false, "", false
	}
	return p.outbound, p.protocol, true
}

// Subscribe records that the connected peer joined (sub) or left a topic.
func (b *Book) Subscribe(id peer.ID, topic string, sub bool) {
	p, ok := b.peers[id]
	if !ok || !p.connected {
		return
	}
	if sub {
		p.topics[topic] = true
	} else {
		delete(p.topics, topic)
	}
}

// PeerIDs returns every known peer (connected or retained), sorted.
func (b *Book) PeerIDs() []peer.ID { return slices.Sorted(maps.Keys(b.peers)) }

// SetTopicParams scores topic with tp (called when the router joins it).
func (b *Book) SetTopicParams(topic string, tp score.TopicParams) { b.params.Topics[topic] = tp }

// ReportTopic starts a topic actor's report of its heartbeat at now: P1 of
// its peers in the mesh is derived from now from here on (unless now is
// zero). full: the report
// carries every counter the actor holds, the mirror of the topic restarts.
func (b *Book) ReportTopic(topic string, now time.Time, full bool) {
	r := b.topicReport(topic)
	if !now.IsZero() {
		r.asOf = now
	}
	if full {
		clear(r.peers)
	}
}

func (b *Book) topicReport(topic string) *topicReport {
	r := b.reported[topic]
	if r == nil {
		r = &topicReport{peers: map[peer.ID]score.TopicCounters{}}
		b.reported[topic] = r
	}
	return r
}

// Report stores a topic actor's counters for one peer.
func (b *Book) Report(topic string, id peer.ID, c score.TopicCounters) {
	r := b.topicReport(topic)
	r.peers[id] = c
	if p, ok := b.peers[id]; ok {
		p.counters[topic] = r.refresh(c)
	}
}

// refresh returns c with P1's time in mesh as of the topic's last report.
func (r *topicReport) refresh(c score.TopicCounters) score.TopicCounters {
	if c.InMesh && !r.asOf.IsZero() {
		c.MeshTime = max(r.asOf.Sub(c.GraftTime), 0)
	}
	return c
}

// Forget records that a topic actor forgot a peer (its counters idle). The
// peer's last counters stay with it, as before reports carried changes.
func (b *Book) Forget(topic string, id peer.ID) {
	if r := b.reported[topic]; r != nil {
		delete(r.peers, id)
	}
}

// ForgetTopic drops every peer's counters of a topic we left.
func (b *Book) ForgetTopic(topic string) {
	delete(b.reported, topic)
	delete(b.params.Topics, topic)
	for _, p := range b.peers {
		delete(p.counters, topic)
	}
}

// Penalty adds to a peer's behaviour penalty (P7).
func (b *Book) Penalty(id peer.ID, v float64) {
	if p, ok := b.peers[id]; ok {
		p.pc.AddPenalty(v)
	}
}

// SetAppScore sets P5.
func (b *Book) SetAppScore(id peer.ID, v float64) {
	if p, ok := b.peers[id]; ok {
		p.pc.AppSpecific = v
	}
}

// Heartbeat forgets retained peers whose RetainScore has passed, decays P7
// once per decay interval, recomputes every score (retained peers' too) into
// scores (cleared first) and returns the peers whose graylist status changed.
func (b *Book) Heartbeat(now time.Time, scores map[peer.ID]float64) []StatusChange {
	for id, p := range b.peers {
		if !p.connected && !now.Before(p.departed.Add(b.params.RetainScore)) {
			delete(b.peers, id)
		}
	}
	decay := false
	if b.lastDecay.IsZero() {
		b.lastDecay = now
	} else if b.params.DecayInterval > 0 && now.Sub(b.lastDecay) >= b.params.DecayInterval {
		decay, b.lastDecay = true, now
	}
	clear(scores)
	var changes []StatusChange
	b.gray = 0
	for id, p := range b.peers {
		if decay {
			p.pc.Decay(b.params)
		}
		for topic, c := range p.counters {
			if r := b.reported[topic]; r != nil && c.InMesh {
				if f := r.refresh(c); f.MeshTime != c.MeshTime {
					p.counters[topic] = f
				}
			}
		}
		p.score = score.Score(&b.params, p.counters, p.pc, b.colocation(p))
		scores[id] = p.score
		if gray := p.score < b.thresholds.Graylist; gray != p.gray {
			p.gray = gray
			changes = append(changes, StatusChange{Peer: id, Graylisted: gray, Score: p.score})
		}
		if p.gray {
			b.gray++
		}
	}
	slices.SortFunc(changes, func(a, c StatusChange) int {
		if a.Peer < c.Peer {
			return -1
		}
		return 1
	})
	return changes
}

// Explain returns a peer's score with every component.
func (b *Book) Explain(id peer.ID) (score.Breakdown, bool) {
	p, ok := b.peers[id]
	if !ok {
		return score.Breakdown{}, false
	}
	return score.Explain(&b.params, p.counters, p.pc, b.colocation(p)), true
}

func (b *Book) colocation(p *peerInfo) float64 {
	if len(p.ips) == 0 {
		return 0
	}
	return score.Colocation(&b.params, p.ips, func(ip netip.Addr) int { return b.ipPeers[ip] })
}
