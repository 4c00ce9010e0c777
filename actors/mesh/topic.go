package mesh

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

// Features are what a peer's negotiated protocol supports.
type Features struct {
	// PX: the peer understands peer exchange in PRUNE (≥ /meshsub/1.1.0).
	PX bool
	// Backoff: the peer honours the PRUNE backoff (≥ /meshsub/1.1.0).
	Backoff bool
	// IDontWant: the peer understands IDONTWANT (≥ /meshsub/1.2.0, and nim over waku relay).
	IDontWant bool
}

// PeerAttrs describe a peer subscribed to the topic.
type PeerAttrs struct {
	ID peer.ID
	// Outbound: we dialled the connection (counts toward Dout).
	Outbound bool
	// Direct: an explicitly configured peer; always forwarded to, never grafted.
	Direct   bool
	Features Features
	// Score is the peer's current score as last aggregated by the router.
	Score float64
}

// peerState is what the Topic knows about one peer.
type peerState struct {
	PeerAttrs
	// subscribed is false for a departed peer kept only for its counters.
	subscribed bool
	inMesh     bool
	inFanout   bool
	counters   score.TopicCounters
	// dontWant holds the IDONTWANT ids the peer sent us, by heartbeat window.
	dontWant dontWant
	// ihaveRounds has bit k set if the peer got our IHAVE k cache shifts
	// ago: with the round each cached message was stored in, it tells which
	// ids we advertised to the peer without a per-id record (seed: sentIHaves).
	ihaveRounds uint64
	// served counts the IWANT replies per id (GossipRetransmission); small
	// and bounded by MaxIHaveLength.
	served   map[MessageID]uint16
	departed time.Time
}

// Topic is the pure state machine of one gossipsub topic: mesh, fanout,
// backoff table, message cache, seen cache, P1–P4 counters, IWANT promises and
// IDONTWANT sets of its peers. It is not safe for concurrent use; the mesh
// actor is its only caller. Every method takes the time of the event.
type Topic struct {
	name string
	cfg  Config
	rng  *rand.Rand

	joined bool
	// nDirect counts subscribed direct peers, so the forward path skips the
	// scan for them in the common case of none.
	nDirect int
	// direct holds Config.DirectPeers: AddPeer marks them Direct.
	direct map[peer.ID]bool
	peers  map[peer.ID]*peerState
	// order keeps subscribed peers in arrival order so that every iteration
	// (and so every use of rng) is deterministic in tests.
	order  []*peerState
	mesh   []*peerState
	fanout []*peerState
	// lastPublish is the time of our last publish while not joined (fanout TTL).
	lastPublish time.Time
	// leftAt is when we last left the topic: an unjoined topic is not Idle
	// until FanoutTTL after it, so a quick re-Join finds its backoffs.
	leftAt time.Time

	backoff backoffTable
	mcache  mcache
	// sampled holds, for the rounds whose gossip window exceeded
	// MaxIHaveLength, the random sample actually advertised.
	sampled  map[uint64]map[MessageID]struct{}
	seen     seenCache
	promises promises

	heartbeats uint64
	lastDecay  time.Time
	// overloadedAt is when the actor last reported mailbox drops (Overloaded).
	overloadedAt time.Time

	fx    Effects
	stats Stats
	// scratch slices reused across calls.
	scratch, scratch2 []*peerState
	// buffers behind the slices of fx, reused by the next call.
	toBuf   []peer.ID
	idBuf   []MessageID
	wantBuf []MessageID
}

// NewTopic returns the core of one topic. rng supplies all randomness
// (seed it in tests). The topic starts not joined: publishes use the fanout
// until Join.
func NewTopic(name string, cfg Config, rng *rand.Rand) (*Topic, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mesh topic %q config: %w", name, err)
	}
	if rng == nil {
		return nil, fmt.Errorf("mesh topic %q: nil rng", name)
	}
	t := &Topic{
		name:  name,
		cfg:   cfg,
		rng:   rng,
		peers: make(map[peer.ID]*peerState),
	}
	if len(cfg.DirectPeers) > 0 {
		t.direct = make(map[peer.ID]bool, len(cfg.DirectPeers))
		for _, id := range cfg.DirectPeers {
			t.direct[id] = true
		}
	}
	t.backoff.init(cfg.MaxBackoff)
	t.mcache.init(cfg.HistoryLength, cfg.HistoryGossip, cfg.MaxCachedMessages)
	t.seen.init(cfg.SeenTTL, cfg.MaxSeenBytes)
	t.promises.init(cfg.MaxPromises)
	return t, nil
}

// Name returns the topic name.
func (t *Topic) Name() string { return t.name }

// Config returns the topic's configuration.
func (t *Topic) Config() Config { return t.cfg }

// Joined reports whether we are subscribed (have a mesh) rather than only publishing (fanout).
func (t *Topic) Joined() bool { return t.joined }

func (t *Topic) begin() *Effects {
	t.fx.reset()
	clear(t.toBuf)
	t.toBuf = t.toBuf[:0]
	return &t.fx
}

// AddPeer records that a peer subscribed to the topic (or updates its
// attributes if already known). A peer of Config.DirectPeers is Direct
// whatever a says. It returns false when the peer table is full.
func (t *Topic) AddPeer(now time.Time, a PeerAttrs) bool {
	if t.direct[a.ID] {
		a.Direct = true
	}
	if ps, ok := t.peers[a.ID]; ok {
		if ps.subscribed && ps.Direct {
			t.nDirect--
		}
		ps.PeerAttrs = a
		if a.Direct && ps.inMesh {
			// A peer that became direct leaves the mesh: direct peers get
			// every message anyway and must not take a mesh slot.
			t.pruned(now, ps, 0)
		}
		if !ps.subscribed {
			ps.subscribed = true
			t.order = append(t.order, ps)
		}
		if a.Direct {
			t.nDirect++
		}
		return true
	}
	ps := t.admit(a)
	if ps == nil {
		return false
	}
	ps.subscribed = true
	t.order = append(t.order, ps)
	if a.Direct {
		t.nDirect++
	}
	return true
}

// admit adds state for a peer not yet known, making room by forgetting the
// departed peer that left first; when all MaxPeers are subscribed it returns
// nil and counts Stats.PeersRejected.
func (t *Topic) admit(a PeerAttrs) *peerState {
	if len(t.peers) >= t.cfg.MaxPeers && !t.forgetDeparted() {
		t.stats.PeersRejected++
		return nil
	}
	ps := &peerState{PeerAttrs: a}
	ps.dontWant.init(t.cfg.HistoryLength, t.cfg.IDontWantMaxPerHeartbeat)
	t.peers[a.ID] = ps
	return ps
}

// forgetDeparted drops the departed peer that left first, to make room.
func (t *Topic) forgetDeparted() bool {
	var oldest *peerState
	for _, ps := range t.peers {
		if !ps.subscribed && (oldest == nil || ps.departed.Before(oldest.departed) ||
			(ps.departed.Equal(oldest.departed) && ps.ID < oldest.ID)) {
			oldest = ps
		}
	}
	if oldest == nil {
		return false
	}
	delete(t.peers, oldest.ID)
	return true
}

// RemovePeer records that a peer unsubscribed or disconnected: it leaves the
// mesh (seed: pruned, with P3b but without backoff, as nothing is sent) and
// the fanout, and the IWANT promises it owes us are dropped (a peer that is
// gone cannot keep them, and its next session must not pay for them). Its
// score counters are kept until they decay to nothing.
func (t *Topic) RemovePeer(now time.Time, id peer.ID) {
	ps, ok := t.peers[id]
	if !ok || !ps.subscribed {
		return
	}
	if ps.inMesh {
		t.pruned(now, ps, 0)
	}
	if ps.inFanout {
		t.fanout = removePeer(t.fanout, ps)
		ps.inFanout = false
	}
	if ps.Direct {
		t.nDirect--
	}
	ps.subscribed = false
	ps.departed = now
	t.promises.forget(id)
	ps.dontWant.clear()
	ps.served = nil
	ps.ihaveRounds = 0
	t.order = removePeer(t.order, ps)
	if ps.counters.Idle() {
		delete(t.peers, id)
	}
}

// SetScore updates a peer's score (the router calls it every heartbeat and
// whenever a score changes). Unknown peers are ignored.
func (t *Topic) SetScore(id peer.ID, s float64) {
	if ps, ok := t.peers[id]; ok {
		ps.Score = s
	}
}

// SetScores updates many scores at once.
func (t *Topic) SetScores(scores map[peer.ID]float64) {
	for id, s := range scores {
		t.SetScore(id, s)
	}
}

// Join subscribes us to the topic: the mesh is seeded from the fanout (those
// peers already carry our messages) and filled up to D by RebalanceMesh.
func (t *Topic) Join(now time.Time) *Effects {
	fx := t.begin()
	if t.joined {
		return fx
	}
	t.joined = true
	for _, ps := range t.fanout {
		ps.inFanout = false
		if len(t.mesh) < t.cfg.D && ps.Score >= 0 && !ps.Direct && !t.backoff.active(ps.ID, now) {
			t.grafted(now, ps)
			fx.Grafts = append(fx.Grafts, ps.ID)
		}
	}
	t.fanout = t.fanout[:0]
	t.lastPublish = time.Time{}
	t.rebalanceMesh(now, fx)
	return fx
}

// Leave unsubscribes us: every mesh peer is pruned with the unsubscribe
// backoff, and we back off from them for as long.
func (t *Topic) Leave(now time.Time) *Effects {
	fx := t.begin()
	if !t.joined {
		return fx
	}
	t.joined = false
	t.leftAt = now
	for _, ps := range slices.Clone(t.mesh) {
		t.pruned(now, ps, t.cfg.UnsubscribeBackoff)
		fx.Prunes = append(fx.Prunes, t.makePrune(ps, t.cfg.UnsubscribeBackoff))
	}
	return fx
}

// Idle reports whether the topic's actor may be retired: not joined, no
// fanout (FanoutTTL has passed since the last publish), FanoutTTL past the
// last Leave, and no message waiting for validation. Its backoffs outlive it
// (see Backoffs), its seen cache and counters do not.
func (t *Topic) Idle(now time.Time) bool {
	return !t.joined && t.lastPublish.IsZero() && len(t.fanout) == 0 && t.seen.pending == 0 &&
		(t.leftAt.IsZero() || !now.Before(t.leftAt.Add(t.cfg.FanoutTTL)))
}

// InMesh reports whether the peer is in our mesh.
func (t *Topic) InMesh(id peer.ID) bool {
	ps, ok := t.peers[id]
	return ok && ps.inMesh
}

// InFanout reports whether the peer is in our fanout.
func (t *Topic) InFanout(id peer.ID) bool {
	ps, ok := t.peers[id]
	return ok && ps.inFanout
}

// TopicPeers returns the peers subscribed to the topic, in arrival order.
func (t *Topic) TopicPeers() []peer.ID { return ids(t.order) }

// MeshPeers returns the mesh, in graft order.
func (t *Topic) MeshPeers() []peer.ID { return ids(t.mesh) }

// FanoutPeers returns the fanout.
func (t *Topic) FanoutPeers() []peer.ID { return ids(t.fanout) }

// Counters returns a copy of a peer's P1–P4 counters in this topic.
func (t *Topic) Counters(id peer.ID) (score.TopicCounters, bool) {
	ps, ok := t.peers[id]
	if !ok {
		return score.TopicCounters{}, false
	}
	return ps.counters, true
}

// CounterReport is one peer's counters, as reported to the router.
type CounterReport struct {
	Peer     peer.ID
	Counters score.TopicCounters
}

// AppendCounters appends the counters of every tracked peer (subscribed or
// departed) to dst, for the router's score aggregation after each heartbeat.
func (t *Topic) AppendCounters(dst []CounterReport) []CounterReport {
	for _, ps := range t.order {
		dst = append(dst, CounterReport{Peer: ps.ID, Counters: ps.counters})
	}
	for _, ps := range t.peers {
		if !ps.subscribed {
			dst = append(dst, CounterReport{Peer: ps.ID, Counters: ps.counters})
		}
	}
	return dst
}

// Stats returns the counters and gauges for metrics.
func (t *Topic) Stats() Stats {
	s := t.stats
	s.MeshPeers = len(t.mesh)
	s.FanoutPeers = len(t.fanout)
	s.TopicPeers = len(t.order)
	s.OutboundMeshPeers = t.outboundInMesh()
	s.CachedMessages = t.mcache.len()
	s.SeenEntries = t.seen.len()
	s.SeenBytes = t.seen.bytes
	s.BackoffEntries = t.backoff.len()
	s.Promises = t.promises.len()
	s.PendingValidations = t.seen.pending
	return s
}

// Heartbeat runs the periodic work of the seed's onHeartbeat for this topic,
// in its order: expire backoffs, prune negative-score mesh peers, rebalance
// the mesh, drop and replenish the fanout, emit gossip, shift the message
// cache. It also refreshes P1, decays the counters each decay interval,
// charges broken IWANT promises, expires the seen cache and rotates the
// IDONTWANT windows. Set scores (SetScores) before calling it.
func (t *Topic) Heartbeat(now time.Time) *Effects {
	fx := t.begin()
	t.heartbeats++
	t.HandleBackingOff(now)
	t.refreshCounters(now)
	if t.joined {
		t.pruneNegative(now, fx)
		t.rebalanceMesh(now, fx)
	} else {
		t.dropFanoutPeers(now)
		t.replenishFanout()
	}
	t.getGossipPeers(fx)
	t.mcache.shift()
	t.sweepSampled()
	t.seen.expire(now)
	t.brokenPromises(now, fx)
	for _, ps := range t.order {
		ps.dontWant.shift()
		ps.ihaveRounds <<= 1
		for id := range ps.served {
			if _, ok := t.mcache.msgs[id]; !ok {
				delete(ps.served, id)
			}
		}
	}
	t.updateHealth()
	return fx
}

// refreshCounters refreshes P1 and P3 activation and decays the counters
// once per decay interval; departed peers whose counters reached zero are forgotten.
func (t *Topic) refreshCounters(now time.Time) {
	decay := false
	if t.lastDecay.IsZero() {
		t.lastDecay = now
	} else if now.Sub(t.lastDecay) >= t.cfg.ScoreDecayInterval {
		decay = true
		t.lastDecay = now
	}
	for id, ps := range t.peers {
		ps.counters.Refresh(now, t.cfg.Score)
		if decay {
			ps.counters.Decay(t.cfg.Score, t.cfg.ScoreDecayToZero)
			if !ps.subscribed && ps.counters.Idle() {
				delete(t.peers, id)
			}
		}
	}
}

func (t *Topic) updateHealth() {
	n := len(t.mesh)
	t.stats.NoPeers = t.joined && n == 0
	t.stats.LowPeers = t.joined && n > 0 && n < t.cfg.Dlo
	t.stats.HealthyPeers = t.joined && n >= t.cfg.Dlo
	t.stats.UnderDout = t.joined && t.outboundInMesh() < t.cfg.Dout
}

func (t *Topic) outboundInMesh() int {
	n := 0
	for _, ps := range t.mesh {
		if ps.Outbound {
			n++
		}
	}
	return n
}

func ids(ps []*peerState) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func removePeer(list []*peerState, ps *peerState) []*peerState {
	if i := slices.Index(list, ps); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}
