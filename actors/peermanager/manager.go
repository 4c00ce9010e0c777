package peermanager

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/dialer"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// Manager is nwaku's PeerManager as a deterministic state machine: the
// books, the service slots, the IP table and the dials it asked for. Every
// method takes the time as an argument and returns Effects; it never blocks,
// reads the clock, starts goroutines or does I/O. Request methods take a
// token, which the shell maps to the requester; the answer comes back as a
// Reply with that token (0 = nobody to answer).
type Manager struct {
	cfg        Config
	self       peer.ID
	targets    Targets
	isRelay    func(string) bool
	whitelist  []netip.Prefix
	storeLimit int

	peers map[peer.ID]*entry
	// list holds the same entries in a slice, which the per-round scans walk:
	// sequential, in allocation order, it is several times faster than
	// iterating the map (100,000 peers: one scan is a few ms).
	list []*entry
	// conn indexes the connected peers, so per-event checks (inbound target,
	// counts) cost O(connections), not O(store).
	conn map[peer.ID]*entry
	// ipTable holds the connected peers per remote IP (nwaku's ipTable).
	ipTable map[string][]peer.ID
	// closing holds peers we disconnected whose PeerDisconnected has not
	// arrived yet, so they are not counted (or pruned) twice.
	closing map[peer.ID]struct{}
	slots   map[string]peer.ID
	mesh    map[peer.ID]struct{}
	dialing map[dialKey]*pendingDial
	// deferred holds ReconnectPeers dials waiting for their backoff, as the
	// Unix-nanosecond time they become due.
	deferred map[peer.ID]int64
	waiters  int
	loaded   bool
	// unsaved are the entries save was asked for before the load
	// completed, written then (saveDeferred).
	unsaved map[peer.ID]*entry
	// startedAt is when Start ran; LoadTimeout counts from it.
	startedAt time.Time
	// lastRound is when the last connectivity round ran, for KickDebounce.
	lastRound time.Time
	// attempts counts the connect dials asked for (attemptSeq).
	attempts uint64
	// searching doubles the candidates a round races for its gap, once per
	// failed or refused round dial since the last success (search).
	searching int
	// quickKicks is what is left of the Kick rounds allowed within
	// KickDebounce of another in the window that started at kickWindow.
	quickKicks int
	kickWindow time.Time
	strs       interner
}

type dialKey struct {
	peer     peer.ID
	protocol string
}

// pendingDial is a DialPeer sent to the pool and not yet completed.
type pendingDial struct {
	source  dialerv1.DialSource
	waiters []waiter
}

// waiter is a request waiting on a dial: a DialPeerRequest (batch nil) or
// one node of a ConnectToNodes batch.
type waiter struct {
	token uint64
	batch *batch
	index int
}

type batch struct {
	token     uint64
	res       *pmv1.NodesConnected
	remaining int
}

// NewManager builds the core; it validates cfg (nwaku's PeerManager.new
// checks) and refuses an empty self id.
func NewManager(cfg Config, self peer.ID) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self == "" {
		return nil, fmt.Errorf("peermanager: self peer id is empty")
	}
	m := &Manager{
		cfg:        cfg,
		self:       self,
		targets:    cfg.RelayTargets(),
		isRelay:    ProtocolMatcher(cfg.RelayCodec),
		storeLimit: cfg.hardStoreLimit(),
		peers:      make(map[peer.ID]*entry),
		conn:       make(map[peer.ID]*entry),
		ipTable:    make(map[string][]peer.ID),
		closing:    make(map[peer.ID]struct{}),
		slots:      make(map[string]peer.ID),
		mesh:       make(map[peer.ID]struct{}),
		dialing:    make(map[dialKey]*pendingDial),
		deferred:   make(map[peer.ID]int64),
		strs:       interner{m: make(map[string]string), max: cfg.MaxInternedStrings},
	}
	for _, w := range cfg.ColocationWhitelist {
		p, _ := parseIPPrefix(w) // Validate checked it
		m.whitelist = append(m.whitelist, p)
	}
	return m, nil
}

// Targets returns the relay targets in force.
func (m *Manager) Targets() Targets { return m.targets }

// Len is the number of peers in the books.
func (m *Manager) Len() int { return len(m.peers) }

// Interned is the number of strings in the interning table (bounded by
// MaxInternedStrings).
func (m *Manager) Interned() int { return len(m.strs.m) }

// Loaded reports whether the stored peers have been loaded.
func (m *Manager) Loaded() bool { return m.loaded }

// Record returns the record of a peer, or nil.
func (m *Manager) Record(id peer.ID) *peerv1.PeerRecord {
	if e := m.peers[id]; e != nil {
		return e.toRecord()
	}
	return nil
}

// ---------------------------------------------------------------------------
// Books

// AddPeer answers an AddPeer request (nwaku's addPeer).
func (m *Manager) AddPeer(token uint64, req *pmv1.AddPeer, now time.Time) Effects {
	var eff Effects
	p, err := ParsePeerInfo(req.GetPeer())
	if err == nil {
		var changed bool
		changed, err = m.addPeer(p, req.GetOrigin(), &eff)
		if err == nil {
			eff.reply(token, &pmv1.PeerAdded{PeerId: []byte(p.id), Changed: changed})
			return eff
		}
	}
	eff.errorf(errorType(err), "add peer refused", "err", err)
	eff.reply(token, &pmv1.PeerAdded{PeerId: []byte(p.id), Error: err.Error()})
	return eff
}

// addPeer adds or updates a peer: never self; unchanged information is a
// no-op; a change is persisted. A new peer makes room for itself when the
// books are at PeerStoreCapacity (makeRoom); one that finds nothing to
// evict beyond the hard store limit is refused. An origin of STATIC is
// never downgraded, so static peers stay protected when discovery finds
// them again.
func (m *Manager) addPeer(p parsedPeer, origin peerv1.Origin, eff *Effects) (bool, error) {
	if p.id == m.self {
		return false, badInput(errSelf, "peer %s is this node", p.id)
	}
	e := m.peers[p.id]
	changed := false
	if e == nil {
		m.makeRoom(eff)
		if len(m.peers) >= m.storeLimit {
			return false, badInput(errStoreFull, "peer store full (%d peers, MaxPeerStoreSize); %s not added", len(m.peers), p.id)
		}
		e = newEntry(p.id)
		e.connectedness = peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED
		e.publicKey = publicKeyOf(p.id)
		m.insert(e)
		changed = true
	}
	// Compare what would be kept, so input beyond a per-peer bound is still
	// a no-op when it repeats itself (and counted once, when it changes).
	if addrs := p.addrs[:min(len(p.addrs), m.cfg.MaxAddressesPerPeer)]; len(addrs) > 0 && !sameBytesList(addrs, e.addrs) {
		e.addrs = m.boundAddrs(p.id, p.addrs, eff)
		changed = true
	}
	if protos := p.protocols[:min(len(p.protocols), m.cfg.MaxProtocolsPerPeer)]; len(protos) > 0 && !slices.Equal(protos, e.protocols) {
		m.setProtocols(e, p.protocols, eff)
		changed = true
	}
	if shards := p.shards[:min(len(p.shards), m.cfg.MaxShardsPerPeer)]; len(shards) > 0 && !slices.Equal(shards, e.shards) {
		if len(p.shards) > len(shards) {
			eff.errorf(errTruncated, "too many shards; extra dropped", "peer", p.id, "got", len(p.shards), "kept", len(shards))
		}
		e.shards = slices.Clone(shards)
		m.rankShards(e)
		changed = true
	}
	if origin != peerv1.Origin_ORIGIN_UNSPECIFIED && origin != e.origin && e.origin != peerv1.Origin_ORIGIN_STATIC {
		e.origin = origin
		changed = true
	}
	if origin == peerv1.Origin_ORIGIN_STATIC {
		e.static = true
	}
	if changed {
		m.save(e, eff)
		eff.log(slog.LevelDebug, "adding peer to manager", "peer", p.id, "origin", e.origin)
	}
	return changed, nil
}

// save queues e's record for the storage actor, except for an inbound-only
// peer seen once: a peer that connected to us once and that we never
// learnt of otherwise is cheap to forget (and an inbound flood of fresh ids
// must not cost two disk writes per id). It is written once it connects a
// second time, or once anything else tells us of it.
func (m *Manager) save(e *entry, eff *Effects) {
	if e.origin == peerv1.Origin_ORIGIN_INBOUND && e.seen < 2 {
		return
	}
	if !m.loaded {
		// Until the load completes a live entry may know less than its
		// stored record (a connection adopted at a restart has no
		// protocols yet): writing it now would overwrite the record before
		// LoadFromStorage merges the two (reliability case F9).
		if m.unsaved == nil {
			m.unsaved = map[peer.ID]*entry{}
		}
		m.unsaved[e.id] = e
		return
	}
	e.persisted = true
	eff.put(e.toRecord())
}

// saveDeferred writes what save was asked for before the load completed,
// for the entries still in the books.
func (m *Manager) saveDeferred(eff *Effects) {
	ids := make([]peer.ID, 0, len(m.unsaved))
	for id := range m.unsaved {
		ids = append(ids, id)
	}
	slices.Sort(ids) // map order is random; effects must not be
	for _, id := range ids {
		if e := m.unsaved[id]; m.peers[id] == e {
			m.save(e, eff)
		}
	}
	m.unsaved = nil
}

// forget removes e from the books, and from disk when it was written.
func (m *Manager) forget(e *entry, reason string, eff *Effects) {
	m.remove(e)
	delete(m.deferred, e.id)
	if e.persisted {
		eff.Deletes = append(eff.Deletes, e.id)
	}
	eff.count(MetricPruned, reason)
}

// makeRoom keeps the books within PeerStoreCapacity between prune ticks:
// called before a new peer is inserted, when the books are full it prunes
// them (prunePeerStore's order) to PeerStoreCapacity − 1 − pruneSlack, so a
// flood of new peers costs one sort per pruneSlack peers, not one per peer.
// Connected, protected and dialed peers are never evicted: when those fill
// the books, nothing is.
func (m *Manager) makeRoom(eff *Effects) {
	if len(m.peers) < m.cfg.PeerStoreCapacity {
		return
	}
	m.pruneTo(m.cfg.PeerStoreCapacity-1-m.pruneSlack(), eff)
}

// pruneSlack is how far below capacity an eviction goes: a sixteenth of it.
func (m *Manager) pruneSlack() int { return m.cfg.PeerStoreCapacity / 16 }

func (m *Manager) boundAddrs(id peer.ID, addrs [][]byte, eff *Effects) [][]byte {
	if len(addrs) > m.cfg.MaxAddressesPerPeer {
		eff.errorf(errTruncated, "too many addresses; extra dropped", "peer", id, "got", len(addrs), "kept", m.cfg.MaxAddressesPerPeer)
		addrs = addrs[:m.cfg.MaxAddressesPerPeer]
	}
	return slices.Clone(addrs)
}

func (m *Manager) setProtocols(e *entry, protos []string, eff *Effects) {
	if len(protos) > m.cfg.MaxProtocolsPerPeer {
		eff.errorf(errTruncated, "too many protocols; extra dropped", "peer", e.id, "got", len(protos), "kept", m.cfg.MaxProtocolsPerPeer)
		protos = protos[:m.cfg.MaxProtocolsPerPeer]
	}
	e.protocols = m.strs.list(protos)
	e.relay = e.supports(m.isRelay)
}

// LoadFromStorage adds the records of one storage LoadBatch (nwaku's
// loadFromStorage). Unlike nwaku the history is kept: the origin (static,
// api, px… — CACHE only when none was recorded), the connectedness
// (CannotConnect stays CannotConnect; a peer recorded connected, as after a
// crash, is CanConnect), the disconnect time, the failure count and last
// failure, so backoff survives a restart. A
// record that does not decode and self are skipped and counted; a peer
// already known live keeps its live record. The books stay within
// PeerStoreCapacity: beyond it the lowest-value peers (prunePeerStore's
// order, loaded ones included) are evicted and deleted from disk, so a
// store that grew beyond capacity (a smaller capacity configured since)
// shrinks instead of keeping unloaded records on disk forever.
func (m *Manager) LoadFromStorage(b *storagev1.LoadBatch) Effects {
	var eff Effects
	for _, r := range b.GetRecords() {
		e, err := fromRecord(r)
		switch {
		case err != nil:
			eff.errorf(errStorageLoad, "skipping stored peer", "err", err)
			continue
		case e.id == m.self:
			continue
		case m.peers[e.id] != nil:
			m.fillFromStore(m.peers[e.id], e, &eff)
			continue
		case len(m.peers) >= m.storeLimit:
			// Nothing evictable (every peer connected or protected): the
			// record would never load, so it goes.
			eff.errorf(errStoreFull, "peer store full; stored peer deleted", "peer", e.id)
			eff.Deletes = append(eff.Deletes, e.id)
			continue
		}
		e.persisted, e.seen = true, 2
		// Records on disk obey the same per-peer bounds as live input.
		e.addrs = m.boundAddrs(e.id, e.addrs, &eff)
		m.setProtocols(e, e.protocols, &eff)
		e.shards = e.shards[:min(len(e.shards), m.cfg.MaxShardsPerPeer)]
		m.rankShards(e)
		e.agent, e.protoVersion = m.strs.get(e.agent), m.strs.get(e.protoVersion)
		switch e.connectedness {
		case peerv1.Connectedness_CONNECTEDNESS_CONNECTED:
			// Recorded connected: the node stopped without recording the
			// shutdown (a crash). It was reachable.
			e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT
		case peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT:
		default:
			e.connectedness = peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED
		}
		e.direction = peerv1.Direction_DIRECTION_UNSPECIFIED
		if e.origin == peerv1.Origin_ORIGIN_UNSPECIFIED {
			e.origin = peerv1.Origin_ORIGIN_CACHE
		}
		e.fromStore = true
		m.insert(e)
		if len(m.peers) > m.cfg.PeerStoreCapacity {
			m.pruneTo(m.cfg.PeerStoreCapacity-m.pruneSlack(), &eff)
		}
	}
	return eff
}

// fillFromStore completes a live entry with what its stored record knows
// and the live one does not (yet): a peer connected before the load — a
// connection adopted at a restart, or one that came up while the store was
// loading — has no protocols, shards or addresses until identify and the
// metadata exchange run again, which they do not for a connection that is
// already up. Without them a relay peer the previous incarnation dialed was
// never counted as one again (reliability case F9), and saving the live
// entry overwrote the stored facts. Live facts win: only empty fields are
// filled.
func (m *Manager) fillFromStore(live, stored *entry, eff *Effects) {
	changed := false
	if !live.protocolsKnown() && stored.protocolsKnown() {
		m.setProtocols(live, stored.protocols, eff)
		changed = true
	}
	if len(live.shards) == 0 && len(stored.shards) > 0 {
		live.shards = stored.shards[:min(len(stored.shards), m.cfg.MaxShardsPerPeer)]
		m.rankShards(live)
		changed = true
	}
	if len(live.addrs) == 0 && len(stored.addrs) > 0 {
		live.addrs = m.boundAddrs(live.id, stored.addrs, eff)
		changed = true
	}
	if live.agent == "" && stored.agent != "" {
		live.agent, live.protoVersion = m.strs.get(stored.agent), m.strs.get(stored.protoVersion)
		changed = true
	}
	if changed {
		m.save(live, eff)
	}
}

// LoadCompleted ends the load: from now on connectivity rounds dial.
func (m *Manager) LoadCompleted(c *storagev1.LoadCompleted) Effects {
	var eff Effects
	m.loaded = true
	m.saveDeferred(&eff)
	if c.GetError() != "" {
		eff.errorf(errStorageLoad, "failed to load peers from storage", "err", c.GetError(), "loaded", c.GetLoaded())
	}
	if c.GetSkipped() > 0 {
		eff.Metrics = append(eff.Metrics, MetricOp{Name: MetricErrors, Labels: []string{errStorageLoad}, Value: float64(c.GetSkipped())})
	}
	eff.log(slog.LevelInfo, "loaded peers from storage", "loaded", c.GetLoaded(), "skipped", c.GetSkipped(), "peers", len(m.peers))
	return eff
}

// MarkLoaded is for a manager without storage: nothing to wait for.
func (m *Manager) MarkLoaded() { m.loaded = true }

// Start is nwaku's start: the loops begin (the shell registers their ticks)
// and the wait for the stored peers, bounded by LoadTimeout, starts at now.
func (m *Manager) Start(now time.Time) { m.startedAt = now }

// Stop is nwaku's stop: every request still waiting on a dial is answered
// with an error, so no requester waits for an actor that is gone, and the
// dials are forgotten (the pool answers them to nobody).
func (m *Manager) Stop(reason string) Effects {
	return m.AbandonDials(dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, reason)
}

// AbandonDials forgets every dial asked of the pool and answers the
// requests waiting on them with outcome and reason. No failure is counted:
// the peers are not at fault. For Stop, and for a dial pool that is gone
// (its answers will never come, and dials in flight would hold the
// outbound target forever).
func (m *Manager) AbandonDials(outcome dialerv1.DialOutcome, reason string) Effects {
	var eff Effects
	keys := make([]dialKey, 0, len(m.dialing))
	for k := range m.dialing {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dialKey) int {
		return cmp.Or(strings.Compare(string(a.peer), string(b.peer)), strings.Compare(a.protocol, b.protocol))
	})
	for _, k := range keys {
		m.answerWaiters(m.dialing[k], k.peer, &dialerv1.DialCompleted{PeerId: []byte(k.peer), Protocol: k.protocol,
			Outcome: outcome, Reason: reason}, &eff)
		delete(m.dialing, k)
	}
	return eff
}

// GetPeers answers GetPeers; each record also says when the connectivity
// loop may dial the peer next (after now) or that it never will.
func (m *Manager) GetPeers(token uint64, req *pmv1.GetPeers, now time.Time) Effects {
	var eff Effects
	match := func(string) bool { return true }
	if p := req.GetProtocol(); p != "" {
		match = ProtocolMatcher(p)
	}
	out := &pmv1.Peers{}
	for _, e := range m.sortedPeers() {
		if (req.GetProtocol() == "" || e.supports(match)) && (!req.GetConnectedOnly() || e.isConnected()) {
			r := e.toRecord()
			if next, ok := m.nextRoundDial(e); !ok {
				r.DialExcluded = true
			} else if next.After(now) {
				r.NextDialTime = timestamppb.New(next)
			}
			out.Peers = append(out.Peers, r)
		}
	}
	eff.reply(token, out)
	return eff
}

func (m *Manager) sortedPeers() []*entry {
	out := slices.Clone(m.list)
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(string(a.id), string(b.id)) })
	return out
}

// ---------------------------------------------------------------------------
// Backoff

// CanBeConnected is nwaku's canBeConnected: a peer that never failed can be
// dialed; one that failed MaxFailedAttempts times never again; otherwise
// only once calculateBackoff(failures) has passed since the last failure.
// Static peers are kept connected: they are never excluded, and their
// backoff is StaticInitialBackoff · BackoffFactor^(failures−1), capped at
// StaticMaxBackoff.
func (m *Manager) CanBeConnected(id peer.ID, now time.Time) bool {
	e := m.peers[id]
	return e != nil && m.canBeConnected(e, now)
}

func (m *Manager) canBeConnected(e *entry, now time.Time) bool {
	next, ok := m.nextDial(e)
	return ok && !now.Before(next)
}

// nextDial is the earliest time the connectivity loop may dial e (the zero
// time: at once), and false when it never will (MaxFailedAttempts reached,
// not static).
func (m *Manager) nextDial(e *entry) (time.Time, bool) {
	if m.otherCluster(e) {
		return time.Time{}, false
	}
	if e.failedAttempts == 0 {
		return time.Time{}, true
	}
	var backoff time.Duration
	switch {
	case e.static:
		backoff = min(CalculateBackoff(m.cfg.StaticInitialBackoff, m.cfg.BackoffFactor, int(e.failedAttempts)), m.cfg.StaticMaxBackoff)
	case int(e.failedAttempts) >= m.cfg.MaxFailedAttempts:
		return time.Time{}, false
	default:
		backoff = CalculateBackoff(m.cfg.InitialBackoff, m.cfg.BackoffFactor, int(e.failedAttempts))
	}
	return time.Unix(0, e.lastFailure).Add(backoff), true
}

// nextRoundDial is nextDial with the other waits of the connectivity loop:
// a ReconnectPeers deferral and PrunedBackoff after a limit disconnected
// the peer. What GetPeers reports.
func (m *Manager) nextRoundDial(e *entry) (time.Time, bool) {
	next, ok := m.nextDial(e)
	if !ok {
		return next, false
	}
	if at, waiting := m.deferred[e.id]; waiting && time.Unix(0, at).After(next) {
		next = time.Unix(0, at)
	}
	if e.prunedAt != 0 {
		if until := time.Unix(0, e.prunedAt).Add(m.cfg.PrunedBackoff); until.After(next) {
			next = until
		}
	}
	return next, true
}

// ---------------------------------------------------------------------------
// Dials

// ConnectRelay asks the pool to connect to a relay peer without a protocol
// (nwaku's connectRelay): gossipsub opens its own streams once connected.
// Unknown peers are added first. The outcome arrives as OnDialCompleted.
func (m *Manager) connectRelay(p parsedPeer, origin peerv1.Origin, source dialerv1.DialSource, timeout time.Duration, w waiter, eff *Effects) error {
	if _, err := m.addPeer(p, origin, eff); err != nil {
		return err
	}
	m.startDial(dialKey{peer: p.id}, source, timeout, w, eff)
	return nil
}

// startDial sends a DialPeer unless one for the same peer and protocol is
// pending, and attaches w to it.
func (m *Manager) startDial(k dialKey, source dialerv1.DialSource, timeout time.Duration, w waiter, eff *Effects) {
	pd := m.dialing[k]
	if pd == nil {
		pd = &pendingDial{source: source}
		m.dialing[k] = pd
		if e := m.peers[k.peer]; e != nil && k.protocol == "" {
			e.lastAttempt = m.attemptSeq()
		}
		if timeout <= 0 {
			timeout = m.cfg.DialTimeout
		}
		var addrs [][]byte
		if e := m.peers[k.peer]; e != nil {
			addrs = e.addrs
		}
		eff.Dials = append(eff.Dials, Dial{Peer: k.peer, Addrs: addrs, Source: source, Protocol: k.protocol, Timeout: timeout})
	}
	if w.token != 0 || w.batch != nil {
		pd.waiters = append(pd.waiters, w)
		m.waiters++
	}
}

// ConnectToNodes answers ConnectToNodes (nwaku's connectToNodes): every
// parsable node is added (origin STATIC for static dials) and dialed at once
// through the pool, bypassing backoff since an operator asked; the answer
// comes when all dials completed. Unparsable nodes get an error in their
// result and are counted. No post-dial sleep.
func (m *Manager) ConnectToNodes(token uint64, req *pmv1.ConnectToNodes, now time.Time) Effects {
	var eff Effects
	nodes := req.GetNodes()
	refuse := func(typ string, err error) Effects {
		eff.errorf(typ, "connect to nodes refused", "err", err)
		eff.reply(token, &pmv1.NodesConnected{Error: err.Error()})
		return eff
	}
	if len(nodes) > m.cfg.MaxNodesPerRequest {
		return refuse(errTooManyRequests, fmt.Errorf("%d nodes in one request, more than MaxNodesPerRequest (%d)", len(nodes), m.cfg.MaxNodesPerRequest))
	}
	if m.waiters+len(nodes) > m.cfg.MaxPendingRequests {
		return refuse(errTooManyRequests, fmt.Errorf("%d requests already wait for dials (MaxPendingRequests %d)", m.waiters, m.cfg.MaxPendingRequests))
	}
	source := req.GetSource()
	if source == dialerv1.DialSource_DIAL_SOURCE_UNSPECIFIED {
		source = dialerv1.DialSource_DIAL_SOURCE_STATIC
	}
	origin := peerv1.Origin_ORIGIN_API
	if source == dialerv1.DialSource_DIAL_SOURCE_STATIC {
		origin = peerv1.Origin_ORIGIN_STATIC
	}
	b := &batch{token: token, res: &pmv1.NodesConnected{Attempted: uint32(len(nodes))}}
	eff.log(slog.LevelInfo, "dialing multiple peers", "nodes", len(nodes), "source", dialer.SourceLabel(source))
	for i, node := range nodes {
		res := &pmv1.NodeResult{Node: node}
		b.res.Results = append(b.res.Results, res)
		p, err := ParsePeerInfo(&pmv1.PeerInfo{Multiaddr: node})
		if err == nil {
			res.PeerId = []byte(p.id)
			m.resetFailures(p.id, &eff)
			b.remaining++
			if err = m.connectRelay(p, origin, source, req.GetTimeout().AsDuration(), waiter{batch: b, index: i}, &eff); err != nil {
				b.remaining--
			}
		}
		if err != nil {
			res.Error = fmt.Sprintf("node %d: %v", i, err)
			eff.errorf(errorType(err), "couldn't parse or add node", "node", node, "err", err)
		}
	}
	if b.remaining == 0 {
		eff.reply(token, b.res)
	}
	return eff
}

// resetFailures forgets a known peer's failed dials: an operator asked for
// it again (ConnectToNodes), which is the way out of MaxFailedAttempts.
func (m *Manager) resetFailures(id peer.ID, eff *Effects) {
	e := m.peers[id]
	if e == nil || (e.failedAttempts == 0 && e.connectedness != peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT) {
		return
	}
	eff.log(slog.LevelInfo, "operator added the peer again; failures reset", "peer", id, "failedAttempts", e.failedAttempts)
	e.failedAttempts, e.lastFailure = 0, 0
	if e.connectedness == peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT {
		e.connectedness = peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED
	}
	m.save(e, eff)
}

// parseNonRelay validates a peer and a protocol that must not be the relay
// codec: nwaku's dialPeer and addServicePeer both refuse relay, whose
// connections are the connectivity loop's business.
func (m *Manager) parseNonRelay(pi *pmv1.PeerInfo, proto, refusal string) (parsedPeer, error) {
	p, err := ParsePeerInfo(pi)
	if err == nil {
		err = checkProtocol(proto)
	}
	if err == nil && m.isRelay(proto) {
		err = badInput(errRelayCodec, "%s (%s)", refusal, proto)
	}
	return p, err
}

// DialPeer answers DialPeerRequest (nwaku's dialPeer): for non-relay
// protocols only; the pool connects and negotiates the protocol. The relay
// codec, self and invalid protocols are refused with an error.
func (m *Manager) DialPeer(token uint64, req *pmv1.DialPeerRequest, now time.Time) Effects {
	var eff Effects
	proto := req.GetProtocol()
	p, err := m.parseNonRelay(req.GetPeer(), proto, "dial shall not be used to connect to relays; connectivity does that")
	switch {
	case err != nil:
	case p.id == m.self:
		err = badInput(errSelf, "could not dial self (%s)", p.id)
	case len(p.addrs) == 0 && (m.peers[p.id] == nil || len(m.peers[p.id].addrs) == 0):
		err = badInput(errUnknownPeer, "no addresses known for %s", p.id)
	case m.waiters >= m.cfg.MaxPendingRequests:
		err = badInput(errTooManyRequests, "%d requests already wait for dials (MaxPendingRequests)", m.waiters)
	case len(p.addrs) > 0:
		_, err = m.addPeer(p, peerv1.Origin_ORIGIN_API, &eff)
	}
	if err != nil {
		eff.errorf(errorType(err), "dial peer refused", "err", err, "protocol", proto)
		eff.reply(token, &pmv1.DialPeerResponse{PeerId: []byte(p.id), Protocol: proto,
			Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED, Error: err.Error()})
		return eff
	}
	eff.log(slog.LevelDebug, "dialing peer", "peer", p.id, "protocol", proto)
	m.startDial(dialKey{peer: p.id, protocol: proto}, dialerv1.DialSource_DIAL_SOURCE_API,
		req.GetTimeout().AsDuration(), waiter{token: token}, &eff)
	return eff
}

// OnDialCompleted records a dial's outcome. A connection resets the failure
// count (nwaku); a failed connect dial counts a failure, stamps the last
// failure and marks the peer CannotConnect — unless the node is offline: the
// local network had no route (UNREACHABLE) and the node has no connection at
// all. That failure says nothing about the peer, so it is not counted
// (nwaku's offline-backoff bug). A node that merely has no connection
// (isolated: its peers time out or refuse) counts failures as usual, so
// backoff moves it on to other candidates. Protocol dials
// (DialPeerRequest) do not touch backoff, as in nwaku.
func (m *Manager) OnDialCompleted(dc *dialerv1.DialCompleted, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(dc.GetPeerId(), "dial result with a bad peer id", &eff)
	if !ok {
		return eff
	}
	k := dialKey{peer: id, protocol: dc.GetProtocol()}
	pd := m.dialing[k]
	delete(m.dialing, k)
	source := dialerv1.DialSource_DIAL_SOURCE_RELAY
	if pd != nil {
		source = pd.source
	}
	outcome := dc.GetOutcome()
	e := m.peers[id]
	switch outcome {
	case dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED:
		eff.count(MetricConnsInitiated, dialer.SourceLabel(source))
		if source == dialerv1.DialSource_DIAL_SOURCE_RELAY && m.searching > 0 {
			m.searching--
		}
		eff.log(slog.LevelDebug, "dial connected", "peer", id, "source", dialer.SourceLabel(source), "protocol", k.protocol)
		if e != nil && k.protocol == "" && (e.failedAttempts != 0 || e.connectedness == peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT) {
			e.failedAttempts, e.lastFailure = 0, 0
			if !e.isConnected() {
				e.connectedness = peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED
			}
			m.save(e, &eff)
		}
	case dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED:
		// Not the peer's doing: the pool refused or we cancelled.
		eff.log(slog.LevelDebug, "dial not attempted", "peer", id, "outcome", outcome, "reason", dc.GetReason())
	default:
		switch {
		case e == nil || k.protocol != "" || e.isConnected():
		case outcome == dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE && len(m.conn) == 0:
			eff.count(MetricDialsDeferred, "offline")
			eff.log(slog.LevelDebug, "dial failed while offline; not counted", "peer", id, "reason", dc.GetReason())
		default:
			e.relayDial = false
			e.failedAttempts++
			e.lastFailure = now.UnixNano()
			e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT
			m.save(e, &eff)
			eff.log(slog.LevelDebug, "connecting relay peer failed", "peer", id, "reason", dc.GetReason(),
				"failedAttempts", e.failedAttempts)
		}
		// A round's dial that failed leaves the gap open: the next
		// candidates are dialed at once (debounced), more of them.
		if pd != nil && pd.source == dialerv1.DialSource_DIAL_SOURCE_RELAY && m.belowTarget() {
			m.search()
			eff.Kick = true
		}
	}
	if pd != nil {
		m.answerWaiters(pd, id, dc, &eff)
	}
	return eff
}

func (m *Manager) answerWaiters(pd *pendingDial, id peer.ID, dc *dialerv1.DialCompleted, eff *Effects) {
	ok := dc.GetOutcome() == dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED
	for _, w := range pd.waiters {
		m.waiters--
		if w.batch == nil {
			r := &pmv1.DialPeerResponse{PeerId: []byte(id), Protocol: dc.GetProtocol(), Outcome: dc.GetOutcome()}
			if !ok {
				r.Error = fmt.Sprintf("dial %s (%s): %s: %s", id, dc.GetProtocol(), dc.GetOutcome(), dc.GetReason())
			}
			eff.reply(w.token, r)
			continue
		}
		res := w.batch.res.Results[w.index]
		res.Connected = ok
		if ok {
			w.batch.res.Connected++
		} else {
			res.Error = fmt.Sprintf("dial %s: %s: %s", id, dc.GetOutcome(), dc.GetReason())
		}
		if w.batch.remaining--; w.batch.remaining == 0 {
			eff.log(slog.LevelInfo, "finished dialing multiple peers", "connected", w.batch.res.Connected, "attempted", w.batch.res.Attempted)
			eff.reply(w.batch.token, w.batch.res)
		}
	}
}

// ReconnectPeers answers ReconnectPeers (nwaku's reconnectPeers): every
// stored peer (loaded from storage in this incarnation, as
// logos-delivery#4029 settled; its origin is kept) supporting the protocol
// that we were connected to before and learnt of ourselves (knownRank 0),
// not connected, not CannotConnect and outside its failure backoff
// is dialed through the pool at once. Unlike nwaku, the other stored peers
// are left to the connectivity rounds, which keep the outbound target and
// dial known peers first: a store filled by an eclipse attacker (never
// connected records, or sybils that dialed us) would otherwise be dialed
// whole at once on a restart (reliability case F16); a peer that disconnected less than `backoff` ago is deferred
// until then and dialed by a later connectivity round. Nothing waits on one
// peer (the seed's TODO).
func (m *Manager) ReconnectPeers(token uint64, req *pmv1.ReconnectPeers, now time.Time) Effects {
	var eff Effects
	if err := checkProtocol(req.GetProtocol()); err != nil {
		eff.errorf(errorType(err), "reconnect refused", "err", err)
		eff.reply(token, &pmv1.ReconnectStarted{Error: err.Error()})
		return eff
	}
	match := ProtocolMatcher(req.GetProtocol())
	backoff := req.GetBackoff().AsDuration()
	res := &pmv1.ReconnectStarted{}
	for _, e := range m.sortedPeers() {
		if !e.fromStore || !e.supports(match) || e.isConnected() || e.knownRank() != 0 ||
			e.connectedness == peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT || !m.canBeConnected(e, now) || m.isDialing(e.id) {
			continue
		}
		if due := e.disconnectTime + int64(backoff); e.disconnectTime != 0 && due > now.UnixNano() {
			m.deferred[e.id] = due
			res.Deferred++
			continue
		}
		m.startDial(dialKey{peer: e.id}, dialerv1.DialSource_DIAL_SOURCE_CACHE, 0, waiter{}, &eff)
		res.Dialing++
	}
	eff.log(slog.LevelInfo, "reconnecting peers", "protocol", req.GetProtocol(), "dialing", res.Dialing, "deferred", res.Deferred)
	eff.reply(token, res)
	return eff
}

// eventPeer decodes the peer id of an event or dial result; a bad one is
// counted and logged, and the event dropped.
func eventPeer(raw []byte, what string, eff *Effects) (peer.ID, bool) {
	id, err := peer.IDFromBytes(raw)
	if err != nil {
		eff.errorf(errInvalidPeerID, what, "err", err)
		return "", false
	}
	return id, true
}

func (m *Manager) isDialing(id peer.ID) bool {
	_, ok := m.dialing[dialKey{peer: id}]
	return ok
}

// ---------------------------------------------------------------------------
// Network events

// OnPeerConnected is nwaku's onPeerEvent(Joined): the peer is Connected with
// its direction; then the limits apply in order: max connections (an
// inbound peer beyond it is disconnected), the IP colocation limit, and the
// inbound relay target.
func (m *Manager) OnPeerConnected(ev *pmv1.PeerConnected, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(ev.GetPeerId(), "connect event with a bad peer id", &eff)
	if !ok {
		return eff
	}
	if id == m.self {
		return eff
	}
	e := m.peers[id]
	if e == nil {
		// Connected peers are always tracked: their number is bounded by the
		// host's connection limits and MaxConnections, not by the store.
		origin := peerv1.Origin_ORIGIN_INBOUND
		if ev.GetDirection() == peerv1.Direction_DIRECTION_OUTBOUND {
			origin = peerv1.Origin_ORIGIN_API
		}
		m.makeRoom(&eff)
		e = newEntry(id)
		e.origin, e.publicKey = origin, publicKeyOf(id)
		m.insert(e)
	}
	if !e.isConnected() {
		m.conn[id] = e
		e.connectedAt = now.UnixNano()
		e.seen = min(e.seen+1, 2)
		// A peer that connected (whichever side dialed) is not failing:
		// its failures go, as after a dial of ours that succeeds. Failures
		// counted across a partition otherwise kept healed peers in hours
		// of backoff (the churn soak: a partitioned node 56 min below its
		// target after the heal).
		e.failedAttempts, e.lastFailure = 0, 0
	}
	e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CONNECTED
	e.direction = ev.GetDirection()
	delete(m.deferred, id)
	if len(e.addrs) == 0 && len(ev.GetRemoteAddr()) > 0 && e.direction == peerv1.Direction_DIRECTION_OUTBOUND {
		if addr, err := ma.NewMultiaddrBytes(ev.GetRemoteAddr()); err == nil {
			e.addrs = [][]byte{addr.Bytes()}
		}
	}
	m.setIP(e, ev.GetRemoteIp())
	m.save(e, &eff)
	if e.direction == peerv1.Direction_DIRECTION_INBOUND && len(m.conn)-len(m.closing) > m.cfg.MaxConnections && !m.protected(e.id) {
		m.disconnect(e, "max_connections", now, &eff)
		return eff
	}
	m.pruneConnsByIP(e.remoteIP, now, &eff)
	if e.relay && e.direction == peerv1.Direction_DIRECTION_INBOUND {
		m.PruneInRelayConns(now, &eff)
	}
	return eff
}

// OnPeerDisconnected is nwaku's onPeerEvent(Left): the peer CanConnect again,
// its disconnect time is stamped and persisted. When a relay peer leaves and
// the outbound target is not met, Kick asks for a round at once.
func (m *Manager) OnPeerDisconnected(ev *pmv1.PeerDisconnected, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(ev.GetPeerId(), "disconnect event with a bad peer id", &eff)
	if !ok {
		return eff
	}
	_, weClosed := m.closing[id]
	delete(m.closing, id)
	e := m.peers[id]
	if e == nil || !e.isConnected() {
		return eff
	}
	forRelay := e.relay || e.relayDial
	refused := !weClosed && !e.static && e.direction == peerv1.Direction_DIRECTION_OUTBOUND && e.connectedAt != 0 &&
		now.Sub(time.Unix(0, e.connectedAt)) < QuickDisconnect
	m.markDisconnected(e, now, &eff)
	if refused {
		// It closed the connection we had just made: its limits (inbound
		// target, max connections, colocation) are full. Like a peer a
		// limit of ours disconnected, it is not redialed for PrunedBackoff.
		e.prunedAt = now.UnixNano()
		m.search()
	}
	switch {
	case e.static:
		eff.Kick = true // redialed at once: static peers are kept connected
	case forRelay && m.belowTarget():
		eff.Kick = true
	}
	return eff
}

// QuickDisconnect is how soon after we connected to a peer its closing the
// connection counts as a refusal (its limits are full) rather than a
// departure.
const QuickDisconnect = 10 * time.Second

// maxSearching bounds the doubling of a round's dials (2^4 × gap already
// exceeds MaxParallelDials for any gap).
const maxSearching = 4

// search notes a round's dial that failed or was refused: the next rounds
// race more candidates.
func (m *Manager) search() { m.searching = min(m.searching+1, maxSearching) }

// belowTarget reports whether outbound relay peers are below the target.
func (m *Manager) belowTarget() bool {
	_, out := m.relayCounts()
	return out < m.targets.OutRelayPeers
}

// markDisconnected records that a connected peer left at now: CanConnect,
// its disconnect time stamped, persisted.
func (m *Manager) markDisconnected(e *entry, now time.Time, eff *Effects) {
	delete(m.conn, e.id)
	m.setIP(e, "")
	e.relayDial, e.notRelayAt = false, 0
	e.connectedness = peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT
	e.direction = peerv1.Direction_DIRECTION_UNSPECIFIED
	e.disconnectTime = now.UnixNano()
	e.connectedAt = 0
	m.save(e, eff)
}

// RecordShutdown answers RecordShutdown: the node is stopping, so every
// connected peer is recorded as disconnected at now and persisted, in the
// node's ordered stop (before the store is flushed and the host closed,
// whose disconnect events would reach nobody). The next start then defers
// reconnecting them until the gossipsub backoff our PRUNEs announced is
// over (ReconnectPeers).
func (m *Manager) RecordShutdown(token uint64, now time.Time) Effects {
	var eff Effects
	ids := make([]peer.ID, 0, len(m.conn))
	for id := range m.conn {
		ids = append(ids, id)
	}
	slices.Sort(ids) // map order is random; effects must not be
	for _, id := range ids {
		delete(m.closing, id)
		m.markDisconnected(m.conn[id], now, &eff)
	}
	eff.log(slog.LevelInfo, "recorded the shutdown", "peers", len(ids))
	eff.reply(token, &pmv1.ShutdownRecorded{Peers: uint32(len(ids))})
	return eff
}

// OnIdentifyCompleted records what identify learnt: protocols, agent,
// protocol version, public key, listen addresses and the remote IP; a peer
// now known to be an inbound relay peer is subject to the inbound target.
func (m *Manager) OnIdentifyCompleted(ev *pmv1.IdentifyCompleted, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(ev.GetPeerId(), "identify event with a bad peer id", &eff)
	if !ok {
		return eff
	}
	e := m.peers[id]
	if e == nil || id == m.self {
		return eff
	}
	var protos []string
	for _, p := range ev.GetProtocols() {
		if checkProtocol(p) == nil {
			protos = append(protos, p)
		}
	}
	m.setProtocols(e, protos, &eff)
	// NetEvents sanitises these; an event from elsewhere must not make the
	// record unencodable either.
	e.agent = m.strs.get(validUTF8(ev.GetAgent()))
	e.protoVersion = m.strs.get(validUTF8(ev.GetProtocolVersion()))
	if len(ev.GetPublicKey()) > 0 {
		e.publicKey = ev.GetPublicKey()
	}
	var addrs [][]byte
	for _, raw := range ev.GetListenAddrs() {
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			eff.errorf(errInvalidMultiaddr, "identify listen address does not parse", "peer", id, "err", err)
			continue
		}
		if transport, _ := peer.SplitAddr(a); transport != nil {
			addrs = append(addrs, transport.Bytes())
		}
	}
	if len(addrs) > 0 {
		e.addrs = m.boundAddrs(id, addrs, &eff)
	}
	if e.isConnected() {
		m.setIP(e, cmp.Or(ev.GetRemoteIp(), e.remoteIP))
	}
	m.save(e, &eff)
	m.noteRelay(e, now)
	if e.isConnected() {
		m.pruneConnsByIP(e.remoteIP, now, &eff)
		if e.relay && e.direction == peerv1.Direction_DIRECTION_INBOUND {
			m.PruneInRelayConns(now, &eff)
		}
	}
	return eff
}

// OnPeerMetadata is nwaku's onPeerMetadata: the shards a connected peer
// said it serves go into its record (bounded by MaxShardsPerPeer), and so
// does its cluster. With CheckCluster, a peer that named another cluster —
// or none — is disconnected (reason cluster_mismatch, protected or not);
// a recorded other cluster keeps it from being dialed or selected again.
// A failed exchange records nothing.
func (m *Manager) OnPeerMetadata(ev *pmv1.PeerMetadata, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(ev.GetPeerId(), "metadata event with a bad peer id", &eff)
	if !ok {
		return eff
	}
	e := m.peers[id]
	if e == nil || id == m.self || ev.GetError() != "" {
		return eff
	}
	changed := false
	if shards := ev.GetShards()[:min(len(ev.GetShards()), m.cfg.MaxShardsPerPeer)]; !slices.Equal(shards, e.shards) {
		if len(ev.GetShards()) > len(shards) {
			eff.errorf(errTruncated, "too many shards; extra dropped", "peer", id, "got", len(ev.GetShards()), "kept", len(shards))
		}
		e.shards = slices.Clone(shards)
		m.rankShards(e)
		changed = true
	}
	if ev.ClusterId != nil && (!e.hasCluster || e.cluster != ev.GetClusterId()) {
		e.cluster, e.hasCluster = ev.GetClusterId(), true
		changed = true
	}
	if changed {
		// Through save like every other change: an inbound peer seen once
		// stays off disk even though it ran the metadata exchange (every
		// Waku peer does), or an inbound flood would cost a write per id.
		m.save(e, &eff)
	}
	if m.cfg.CheckCluster && (ev.ClusterId == nil || m.otherCluster(e)) && e.isConnected() {
		if _, c := m.closing[id]; !c {
			cluster := "none"
			if ev.ClusterId != nil {
				cluster = strconv.FormatUint(uint64(ev.GetClusterId()), 10)
			}
			eff.log(slog.LevelWarn, "peer is not on our cluster", "peer", id, "cluster", cluster, "ours", m.cfg.ClusterID,
				"origin", e.origin)
			m.disconnect(e, "cluster_mismatch", now, &eff)
		}
	}
	return eff
}

// SetShards replaces Config.Shards (the node joined or left a shard) and
// re-ranks every peer's shards against them.
func (m *Manager) SetShards(ev *pmv1.SetShards) {
	m.cfg.Shards = slices.Clone(ev.GetShards())
	for _, e := range m.list {
		m.rankShards(e)
	}
}

// otherCluster: the peer said a cluster other than ours (CheckCluster).
func (m *Manager) otherCluster(e *entry) bool {
	return m.cfg.CheckCluster && e.hasCluster && e.cluster != m.cfg.ClusterID
}

// Shard ranks of a candidate (entry.shardRank), best first.
const (
	shardServes uint8 = iota
	shardUnknown
	shardElsewhere
)

func (m *Manager) rankShards(e *entry) {
	switch {
	case len(e.shards) == 0 || len(m.cfg.Shards) == 0:
		e.shardRank = shardUnknown
	case slices.ContainsFunc(e.shards, func(s uint32) bool { return slices.Contains(m.cfg.Shards, s) }):
		e.shardRank = shardServes
	default:
		e.shardRank = shardElsewhere
	}
}

// OnPeerProtocolsUpdated records a connected peer's protocols after identify
// push changed them: a peer that answered our first identify before it had
// registered relay (a node that had just started) becomes a relay peer.
func (m *Manager) OnPeerProtocolsUpdated(ev *pmv1.PeerProtocolsUpdated, now time.Time) Effects {
	var eff Effects
	id, ok := eventPeer(ev.GetPeerId(), "protocols event with a bad peer id", &eff)
	if !ok {
		return eff
	}
	e := m.peers[id]
	if e == nil || id == m.self {
		return eff
	}
	var protos []string
	for _, p := range ev.GetProtocols() {
		if checkProtocol(p) == nil {
			protos = append(protos, p)
		}
	}
	if slices.Equal(protos, e.protocols) {
		return eff
	}
	m.setProtocols(e, protos, &eff)
	m.noteRelay(e, now)
	m.save(e, &eff)
	if e.isConnected() && e.relay && e.direction == peerv1.Direction_DIRECTION_INBOUND {
		m.PruneInRelayConns(now, &eff)
	}
	return eff
}

// noteRelay follows what the protocols of a peer we dialed for relay say:
// without relay it is marked, and the first round NotRelayGrace later
// disconnects it (its protocols recorded, so it is not dialed for relay
// again); identify push bringing relay meanwhile (a peer that had just
// started) clears the mark.
func (m *Manager) noteRelay(e *entry, now time.Time) {
	switch {
	case e.relay || !e.isConnected() || !e.relayDial || m.protected(e.id):
		e.notRelayAt = 0
	case e.notRelayAt == 0:
		e.notRelayAt = now.UnixNano()
	}
}

// NotRelayGrace is how long a peer we dialed for relay may show protocols
// without relay before a round disconnects it: identify push corrects a
// first identify answered before the peer registered relay.
const NotRelayGrace = 5 * time.Second

// IdentifyGrace is how long an outbound connection we made for relay may
// stay without protocols, identify never having completed, before a round
// closes it. Until then it counts toward the outbound target (the round
// must not overshoot while identify runs), so a connection whose identify
// failed would hold a slot for ever: seen on a loaded machine, where
// go-libp2p's identify (5 s timeout) failed and a node sat at 2 of 3
// outbound with undialed candidates. Six times that timeout: only a failed
// identify, never a slow one, is cut.
const IdentifyGrace = 30 * time.Second

// disconnectNotRelay closes the connections we made for relay to peers
// that, NotRelayGrace after identify, still do not speak relay, and those
// whose identify has not told anything IdentifyGrace after connecting.
func (m *Manager) disconnectNotRelay(now time.Time, eff *Effects) {
	type victim struct {
		id     peer.ID
		reason string
	}
	var vs []victim
	for id, e := range m.conn {
		switch {
		case e.notRelayAt != 0 && now.Sub(time.Unix(0, e.notRelayAt)) >= NotRelayGrace:
			vs = append(vs, victim{id, "not_relay"})
		case e.relayDial && !e.protocolsKnown() && e.direction == peerv1.Direction_DIRECTION_OUTBOUND &&
			e.connectedAt != 0 && now.Sub(time.Unix(0, e.connectedAt)) >= IdentifyGrace:
			vs = append(vs, victim{id, "identify_timeout"})
		}
	}
	// map order is random; effects must not be
	slices.SortFunc(vs, func(a, b victim) int { return strings.Compare(string(a.id), string(b.id)) })
	for _, v := range vs {
		e := m.conn[v.id]
		e.notRelayAt, e.relayDial = 0, false
		if _, c := m.closing[v.id]; !c && !e.relay && !m.protected(v.id) {
			m.disconnect(e, v.reason, now, eff)
		}
	}
}

// MeshPeersChanged replaces the set of mesh peers (protected from pruning).
func (m *Manager) MeshPeersChanged(ev *pmv1.MeshPeersChanged) Effects {
	var eff Effects
	ids := ev.GetPeerIds()
	if len(ids) > m.cfg.MaxMeshPeers {
		eff.errorf(errTruncated, "too many mesh peers; extra ignored", "got", len(ids), "kept", m.cfg.MaxMeshPeers)
		ids = ids[:m.cfg.MaxMeshPeers]
	}
	clear(m.mesh)
	for _, raw := range ids {
		if id, err := peer.IDFromBytes(raw); err == nil {
			m.mesh[id] = struct{}{}
		} else {
			eff.errorf(errInvalidPeerID, "mesh peer with a bad peer id", "err", err)
		}
	}
	return eff
}

// setIP moves a connected peer in the IP table (nwaku's getPeerIp +
// ipTable); "" removes it.
func (m *Manager) setIP(e *entry, ip string) {
	if e.remoteIP == ip {
		return
	}
	if old := e.remoteIP; old != "" {
		list := slices.DeleteFunc(m.ipTable[old], func(p peer.ID) bool { return p == e.id })
		if len(list) == 0 {
			delete(m.ipTable, old)
		} else {
			m.ipTable[old] = list
		}
	}
	e.remoteIP = ip
	if ip != "" {
		m.ipTable[ip] = append(m.ipTable[ip], e.id)
	}
}

// protected peers are never disconnected by a limit nor pruned from the
// store: static peers, service-slot peers and mesh peers.
func (m *Manager) protected(id peer.ID) bool {
	if e := m.peers[id]; e != nil && e.static {
		return true
	}
	if _, ok := m.mesh[id]; ok {
		return true
	}
	for _, s := range m.slots {
		if s == id {
			return true
		}
	}
	return false
}

// disconnect closes a peer for a limit. The peer is not dialed again for
// PrunedBackoff, so a limit never ping-pongs with the connectivity loop
// (nwaku#3065: peers pruned on join were dialed right back).
func (m *Manager) disconnect(e *entry, reason string, now time.Time, eff *Effects) {
	m.closing[e.id] = struct{}{}
	e.prunedAt = now.UnixNano()
	eff.Disconnects = append(eff.Disconnects, Disconnect{Peer: e.id, Reason: reason})
	eff.count(MetricPruned, reason)
	eff.log(slog.LevelInfo, "disconnecting peer", "peer", e.id, "reason", reason, "ip", e.remoteIP)
}

// lowestValueFirst orders victims of a limit: the most recently connected
// first (it has proven least), then by id for determinism. nwaku prunes in
// connection-table order; go-libp2p's connmgr also spares the established.
func lowestValueFirst(a, b *entry) int {
	return cmp.Or(cmp.Compare(b.connectedAt, a.connectedAt), strings.Compare(string(a.id), string(b.id)))
}

// pruneConnsByIP enforces the colocation limit on ip: unprotected peers
// beyond the limit are disconnected, newest first; unlike nwaku their
// records are kept, so their history is not lost (and the newcomers, not
// the established peers, make room).
func (m *Manager) pruneConnsByIP(ip string, now time.Time, eff *Effects) {
	if m.cfg.ColocationLimit == 0 || ip == "" || m.whitelisted(ip) {
		return
	}
	var live, victims []*entry
	for _, id := range m.ipTable[ip] {
		if _, c := m.closing[id]; !c {
			live = append(live, m.peers[id])
		}
	}
	excess := len(live) - m.cfg.ColocationLimit
	if excess <= 0 {
		return
	}
	for _, e := range live {
		if !m.protected(e.id) {
			victims = append(victims, e)
		}
	}
	slices.SortFunc(victims, lowestValueFirst)
	for _, e := range victims[:min(excess, len(victims))] {
		m.disconnect(e, "colocation", now, eff)
	}
}

func (m *Manager) whitelisted(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(m.whitelist, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// ---------------------------------------------------------------------------
// Connectivity

// ConnectedPeers is nwaku's connectedPeers(protocol): connected peers that
// support the protocol (prefix match), inbound and outbound, sorted by id.
func (m *Manager) ConnectedPeers(protocol string) (in, out []peer.ID) {
	match := ProtocolMatcher(protocol)
	for _, e := range m.conn {
		if !e.supports(match) {
			continue
		}
		if e.direction == peerv1.Direction_DIRECTION_INBOUND {
			in = append(in, e.id)
		} else if e.direction == peerv1.Direction_DIRECTION_OUTBOUND {
			out = append(out, e.id)
		}
	}
	slices.Sort(in)
	slices.Sort(out)
	return in, out
}

// HandleConnectedPeers answers ConnectedPeers.
func (m *Manager) HandleConnectedPeers(token uint64, req *pmv1.ConnectedPeers) Effects {
	var eff Effects
	if err := checkProtocol(req.GetProtocol()); err != nil {
		eff.errorf(errorType(err), "connected peers refused", "err", err)
		eff.reply(token, &pmv1.ConnectedPeersList{Error: err.Error()})
		return eff
	}
	in, out := m.ConnectedPeers(req.GetProtocol())
	res := &pmv1.ConnectedPeersList{}
	for _, id := range in {
		res.Inbound = append(res.Inbound, []byte(id))
	}
	for _, id := range out {
		res.Outbound = append(res.Outbound, []byte(id))
	}
	eff.reply(token, res)
	return eff
}

// relayCounts counts connected relay peers by direction, leaving out those
// being disconnected.
func (m *Manager) relayCounts() (in, out int) {
	for _, e := range m.conn {
		if !e.relay {
			continue
		}
		if _, c := m.closing[e.id]; c {
			continue
		}
		switch e.direction {
		case peerv1.Direction_DIRECTION_INBOUND:
			in++
		case peerv1.Direction_DIRECTION_OUTBOUND:
			out++
		}
	}
	return in, out
}

// PruneInRelayConns is nwaku's pruneInRelayConns: inbound relay peers beyond
// the inbound target are disconnected, lowest value first; protected peers
// are spared.
func (m *Manager) PruneInRelayConns(now time.Time, eff *Effects) {
	var victims []*entry
	n := 0
	for _, e := range m.conn {
		if !e.relay || e.direction != peerv1.Direction_DIRECTION_INBOUND {
			continue
		}
		if _, c := m.closing[e.id]; c {
			continue
		}
		n++
		if !m.protected(e.id) {
			victims = append(victims, e)
		}
	}
	excess := n - m.targets.InRelayPeers
	if excess <= 0 {
		return
	}
	slices.SortFunc(victims, lowestValueFirst)
	for _, e := range victims[:min(excess, len(victims))] {
		m.disconnect(e, "inbound_relay", now, eff)
	}
}

// candidateBefore orders dial candidates, best first: static peers, then
// peers serving one of our shards, then peers whose shards are unknown (the
// seed's shard-aware selection; peers known to serve only other shards come
// last: nwaku and go-waku would drop a relay link without a shared shard),
// then the least recently attempted (never attempted first), then fewer
// failures, then peers we were connected to before (those that dialed us
// after those we dialed, knownRank), then the oldest
// failure, then a hash of the id (so nodes do not all prefer the same
// peers), then the id. Least recently attempted before the rest rotates the
// candidates: a round takes the MaxParallelDials that waited longest, so
// every eligible peer is tried within ⌈candidates/MaxParallelDials⌉ rounds
// even when failures are not counted (offline) or dials are refused by the
// pool. It runs for every stored peer in each round, so it compares lazily,
// integers first.
func candidateBefore(a, b *entry) int {
	if c := cmp.Compare(staticRank(a), staticRank(b)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.shardRank, b.shardRank); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lastAttempt, b.lastAttempt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.failedAttempts, b.failedAttempts); c != 0 {
		return c
	}
	if c := cmp.Compare(a.knownRank(), b.knownRank()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lastFailure, b.lastFailure); c != 0 {
		return c
	}
	return idBefore(a, b)
}

func staticRank(e *entry) int {
	if e.static {
		return 0
	}
	return 1
}

// ConnectToRelayPeers is one step of nwaku's relayConnectivityLoop: prune
// excess inbound relay peers; dial ReconnectPeers peers whose wait is over;
// then, while outbound relay peers (plus connect dials in flight) are below
// the target, ask the pool for min(candidates, gap, MaxParallelDials) dials,
// best candidates first. Candidates are not connected, support relay or
// have protocols nobody told us yet (peer exchange, static nodes: identify
// tells once connected, and a peer dialed this way that does not speak
// relay is disconnected then and not dialed for relay again), have an
// address, are outside backoff, not being dialed, not waiting for a
// ReconnectPeers backoff, not disconnected by a limit within PrunedBackoff
// and not at an IP whose connected peers already reach the colocation limit.
func (m *Manager) ConnectToRelayPeers(now time.Time) Effects {
	var eff Effects
	m.lastRound = now
	if !m.loaded {
		if m.startedAt.IsZero() || now.Sub(m.startedAt) < m.cfg.LoadTimeout {
			eff.log(slog.LevelDebug, "connectivity round skipped: stored peers not loaded yet")
			return eff
		}
		m.loaded = true
		m.saveDeferred(&eff)
		eff.errorf(errStorageLoad, "stored peers not loaded within LoadTimeout; connecting without them",
			"waited", now.Sub(m.startedAt), "loadTimeout", m.cfg.LoadTimeout, "peers", len(m.peers))
	}
	m.PruneInRelayConns(now, &eff)
	m.disconnectNotRelay(now, &eff)
	nowNs := now.UnixNano()
	var due []peer.ID
	for id, at := range m.deferred {
		if at <= nowNs {
			due = append(due, id)
		}
	}
	slices.Sort(due) // map order is random; effects must not be
	for _, id := range due {
		delete(m.deferred, id)
		if e := m.peers[id]; e != nil && !e.isConnected() && !m.isDialing(id) {
			m.startDial(dialKey{peer: id}, dialerv1.DialSource_DIAL_SOURCE_CACHE, 0, waiter{}, &eff)
		}
	}
	m.redialStatic(now, &eff)
	_, out := m.relayCounts()
	// Dials in flight and outbound connections whose identify has not told
	// yet whether they speak relay count toward the target, so the round
	// does not overshoot while they settle.
	inflight := 0
	for k := range m.dialing {
		if e := m.peers[k.peer]; k.protocol == "" && e != nil && e.mayRelay() {
			inflight++
		}
	}
	for _, e := range m.conn {
		if e.relayDial && !e.protocolsKnown() && e.direction == peerv1.Direction_DIRECTION_OUTBOUND {
			inflight++
		}
	}
	// Peers ReconnectPeers deferred hold their slots while they wait out
	// the backoff: else a restart would give the outbound quota to
	// whatever else the store holds (an eclipse attacker's records) before
	// the peers we were connected to are due (reliability case F16).
	for id := range m.deferred {
		if e := m.peers[id]; e != nil && !e.isConnected() && !m.isDialing(id) {
			inflight++
		}
	}
	need := m.targets.OutRelayPeers - out
	if need <= 0 {
		m.searching = 0
		return eff
	}
	// While the round's dials keep failing or being refused, each further
	// round races twice as many candidates for the same gap (searching),
	// at most MaxParallelDials more than the gap: among many unreachable
	// or full candidates a node finds the reachable ones in a few rounds
	// instead of one per dial timeout. A success steps it back down. The
	// price is an overshoot of the target by at most MaxParallelDials when
	// several raced dials succeed together (nwaku's rounds overshoot too).
	// Without failures (searching 0) a round asks for the gap only.
	gap := need + min(need<<m.searching-need, m.cfg.MaxParallelDials) - inflight
	if gap <= 0 {
		return eff
	}
	best := m.bestCandidates(min(gap, m.cfg.MaxParallelDials), now)
	for _, e := range best {
		e.relayDial = true
		m.startDial(dialKey{peer: e.id}, dialerv1.DialSource_DIAL_SOURCE_RELAY, 0, waiter{}, &eff)
	}
	if len(best) > 0 {
		eff.log(slog.LevelDebug, "connecting to relay peers", "dials", len(best), "outRelayPeers", out, "target", m.targets.OutRelayPeers,
			"searching", m.searching)
	}
	return eff
}

// redialStatic dials every static peer that is not connected, has an
// address and is outside its (capped) backoff, whatever the outbound target:
// static peers are kept connected. The static peers are the operator's
// list (ConnectToNodes bounds each request by MaxNodesPerRequest), and each
// round asks for at most MaxParallelDials of them.
func (m *Manager) redialStatic(now time.Time, eff *Effects) {
	n := 0
	for _, e := range m.list {
		if n == m.cfg.MaxParallelDials {
			return
		}
		if !e.static || e.isConnected() || len(e.addrs) == 0 || m.isDialing(e.id) || !m.canBeConnected(e, now) {
			continue
		}
		m.startDial(dialKey{peer: e.id}, dialerv1.DialSource_DIAL_SOURCE_STATIC, 0, waiter{}, eff)
		n++
	}
}

// bestCandidates returns up to k candidates in candidateBefore order. It
// keeps a sorted slice of at most k, so a round over n peers costs O(n·k)
// with k ≤ MaxParallelDials, without sorting the whole store.
func (m *Manager) bestCandidates(k int, now time.Time) []*entry {
	best := make([]*entry, 0, k+1)
	saturated := m.saturatedIPs()
	for _, e := range m.list {
		if !e.mayRelay() || e.isConnected() || len(e.addrs) == 0 || !m.canBeConnected(e, now) || m.isDialing(e.id) {
			continue
		}
		if e.prunedAt != 0 && now.Before(time.Unix(0, e.prunedAt).Add(m.cfg.PrunedBackoff)) {
			continue // disconnected by a limit a moment ago
		}
		if _, waiting := m.deferred[e.id]; waiting {
			continue // ReconnectPeers asked to wait; the round dials it when due
		}
		if len(best) == k && candidateBefore(e, best[k-1]) >= 0 {
			continue
		}
		// Checked last, so only for peers that would enter the best k (and
		// only while some IP is at its limit): parsing an address per stored
		// peer would cost a round at 100,000 peers its budget.
		if len(saturated) > 0 && saturated[firstIP(e)] && !m.protected(e.id) {
			continue // the colocation limit would disconnect it at once
		}
		i, _ := slices.BinarySearchFunc(best, e, candidateBefore)
		best = slices.Insert(best, i, e)
		if len(best) > k {
			best = best[:k]
		}
	}
	return best
}

// saturatedIPs are the IPs whose connected peers (not being disconnected)
// already reach the colocation limit. A candidate there would be dialed
// only to be disconnected as the newest peer of its IP, every
// PrunedBackoff: a slow redial storm the round avoids. (A protected peer is
// still dialed: the limit spares it and makes room among the others.)
func (m *Manager) saturatedIPs() map[string]bool {
	if m.cfg.ColocationLimit == 0 {
		return nil
	}
	var out map[string]bool
	for ip, ids := range m.ipTable {
		if len(ids) < m.cfg.ColocationLimit || m.whitelisted(ip) {
			continue
		}
		live := 0
		for _, id := range ids {
			if _, c := m.closing[id]; !c {
				live++
			}
		}
		if live >= m.cfg.ColocationLimit {
			if out == nil {
				out = make(map[string]bool)
			}
			out[ip] = true
		}
	}
	return out
}

// firstIP is the IP of a peer's first address ("" when it has none, e.g.
// a DNS address): the one a dial most likely reaches.
func firstIP(e *entry) string {
	a, err := ma.NewMultiaddrBytes(e.addrs[0])
	if err != nil {
		return ""
	}
	return remoteIP(a)
}

// Kick runs a connectivity round for a relay peer that left, a round's dial
// that failed or a peer that refused us, unless one ran less than
// KickDebounce ago — beyond MaxParallelDials such quick rounds per
// ConnectivityInterval (the next tick then covers it). The allowance lets
// a node below its target try candidate after candidate within a round's
// interval when they refuse it at once (full remotes answer in a round
// trip), instead of one per interval; the bound keeps a storm of
// departures from costing more than a round per dial.
func (m *Manager) Kick(now time.Time) Effects {
	if now.Sub(m.kickWindow) >= m.cfg.ConnectivityInterval {
		m.kickWindow, m.quickKicks = now, m.cfg.MaxParallelDials
	}
	if !m.lastRound.IsZero() && now.Sub(m.lastRound) < m.cfg.KickDebounce {
		if m.quickKicks == 0 {
			return Effects{}
		}
		m.quickKicks--
	}
	return m.ConnectToRelayPeers(now)
}

// PrunePeerStore is nwaku's prunePeerStore: when the books hold more than
// PeerStoreCapacity peers, delete (from memory and disk) first the peers at
// MaxFailedAttempts, then other peers that are not connected — most
// failures, never-connected and longest-gone first. Connected, static,
// service-slot, mesh peers and peers being dialed are never pruned.
func (m *Manager) PrunePeerStore(now time.Time) Effects {
	var eff Effects
	if len(m.peers) <= m.cfg.PeerStoreCapacity {
		return eff
	}
	before := len(m.peers)
	m.pruneTo(m.cfg.PeerStoreCapacity, &eff)
	eff.log(slog.LevelInfo, "finished pruning peer store", "before", before, "after", len(m.peers),
		"capacity", m.cfg.PeerStoreCapacity, "pruned", before-len(m.peers))
	return eff
}

// pruneTo evicts peers until the books hold at most target, in
// prunePeerStore's order: peers at MaxFailedAttempts (oldest failure
// first), then inbound-only peers seen once (longest gone first: cheap to
// forget), then the other idle peers (most failures, never connected and
// longest gone first). Connected, protected and dialed peers stay.
func (m *Manager) pruneTo(target int, eff *Effects) {
	excess := len(m.peers) - target
	if excess <= 0 {
		return
	}
	// Sort keys, not entries: the comparisons then stay in one dense slice
	// instead of chasing 100,000 pointers n·log n times.
	var failed, once, idle []pruneKey
	for _, e := range m.list {
		if e.isConnected() || m.protected(e.id) || m.isDialing(e.id) {
			continue
		}
		switch {
		case int(e.failedAttempts) >= m.cfg.MaxFailedAttempts:
			failed = append(failed, pruneKey{a: e.lastFailure, tie: e.tie, e: e})
		case e.origin == peerv1.Origin_ORIGIN_INBOUND && e.seen < 2:
			once = append(once, pruneKey{a: e.disconnectTime, tie: e.tie, e: e})
		default:
			idle = append(idle, pruneKey{a: -int64(e.failedAttempts), b: e.disconnectTime, tie: e.tie, e: e})
		}
	}
	for _, group := range [][]pruneKey{failed, once, idle} {
		if excess == 0 {
			return
		}
		slices.SortFunc(group, comparePruneKeys)
		for _, k := range group[:min(excess, len(group))] {
			m.forget(k.e, "peer_store", eff)
			excess--
		}
	}
}

// pruneKey orders prune candidates by (a, b, id hash, id). Peers at
// MaxFailedAttempts: a = last failure (oldest first). Others: a = −failures
// (most first), b = disconnect time (never connected, 0, first; then the
// longest gone).
type pruneKey struct {
	a, b int64
	tie  uint64
	e    *entry
}

func comparePruneKeys(x, y pruneKey) int {
	if c := cmp.Compare(x.a, y.a); c != 0 {
		return c
	}
	if c := cmp.Compare(x.b, y.b); c != 0 {
		return c
	}
	if c := cmp.Compare(x.tie, y.tie); c != 0 {
		return c
	}
	return strings.Compare(string(x.e.id), string(y.e.id))
}

func idBefore(a, b *entry) int {
	if c := cmp.Compare(a.tie, b.tie); c != 0 {
		return c
	}
	return strings.Compare(string(a.id), string(b.id))
}

// ---------------------------------------------------------------------------
// Service slots and selection

// AddServicePeer answers AddServicePeer (nwaku's addServicePeer): the peer
// takes the protocol's slot and is added to the books; relay is refused.
func (m *Manager) AddServicePeer(token uint64, req *pmv1.AddServicePeer, now time.Time) Effects {
	var eff Effects
	proto := req.GetProtocol()
	p, err := m.parseNonRelay(req.GetPeer(), proto, "can't add relay peer to service peer slots")
	switch {
	case err != nil:
	case m.slots[proto] == "" && len(m.slots) >= m.cfg.MaxServiceSlots:
		err = badInput(errServiceSlotsFull, "%d service slots in use (MaxServiceSlots)", len(m.slots))
	default:
		_, err = m.addPeer(p, peerv1.Origin_ORIGIN_SERVICE, &eff)
	}
	if err != nil {
		eff.errorf(errorType(err), "add service peer refused", "err", err, "protocol", proto)
		eff.reply(token, &pmv1.ServicePeerAdded{PeerId: []byte(p.id), Protocol: proto, Error: err.Error()})
		return eff
	}
	if old, ok := m.slots[proto]; ok && old != p.id {
		eff.Metrics = append(eff.Metrics, MetricOp{Name: MetricServicePeers, Labels: []string{proto, m.serviceLabel(old)}, Delete: true})
	}
	m.slots[proto] = p.id
	eff.Metrics = append(eff.Metrics, MetricOp{Name: MetricServicePeers, Labels: []string{proto, m.serviceLabel(p.id)}, Value: 1, Set: true})
	eff.log(slog.LevelInfo, "adding peer to service slots", "peer", p.id, "service", proto)
	eff.reply(token, &pmv1.ServicePeerAdded{PeerId: []byte(p.id), Protocol: proto})
	return eff
}

// serviceLabel is the seed's waku_service_peers "peerId" label: the first
// multiaddr of the peer (dashboards show it), or the id when none is known.
func (m *Manager) serviceLabel(id peer.ID) string {
	if e := m.peers[id]; e != nil && len(e.addrs) > 0 {
		if a, err := ma.NewMultiaddrBytes(e.addrs[0]); err == nil {
			return a.String() + "/p2p/" + id.String()
		}
	}
	return id.String()
}

// SelectPeer is nwaku's selectPeer: for a non-relay protocol the service
// slot wins; otherwise a peer supporting the protocol (and the shard, when
// given): connected first, then fewer failures, then id. It returns nil when
// there is none.
func (m *Manager) SelectPeer(protocol string, shard *uint32) *peerv1.PeerRecord {
	if e := m.selectPeer(protocol, shard); e != nil {
		return e.toRecord()
	}
	return nil
}

func (m *Manager) selectPeer(protocol string, shard *uint32) *entry {
	if !m.isRelay(protocol) {
		if id, ok := m.slots[protocol]; ok && m.peers[id] != nil {
			return m.peers[id]
		}
	}
	match := ProtocolMatcher(protocol)
	var best *entry
	for _, e := range m.list {
		if !e.supports(match) || (shard != nil && !slices.Contains(e.shards, *shard)) || m.otherCluster(e) {
			continue
		}
		if best == nil || selectBefore(e, best) < 0 {
			best = e
		}
	}
	return best
}

func selectBefore(a, b *entry) int {
	conn := func(e *entry) int {
		if e.isConnected() {
			return 0
		}
		return 1
	}
	return cmp.Or(cmp.Compare(conn(a), conn(b)), cmp.Compare(a.failedAttempts, b.failedAttempts),
		strings.Compare(string(a.id), string(b.id)))
}

// HandleSelectPeer answers SelectPeer; no peer is an "unknown_protocol"
// error.
func (m *Manager) HandleSelectPeer(token uint64, req *pmv1.SelectPeer) Effects {
	var eff Effects
	err := checkProtocol(req.GetProtocol())
	var shard *uint32
	if req.GetHasShard() {
		s := req.GetShard()
		shard = &s
	}
	var e *entry
	if err == nil {
		if e = m.selectPeer(req.GetProtocol(), shard); e == nil {
			err = badInput(errUnknownProtocol, "no peer found for protocol %q%s", req.GetProtocol(), shardText(shard))
		}
	}
	if err != nil {
		eff.errorf(errorType(err), "select peer failed", "err", err)
		eff.reply(token, &pmv1.PeerSelected{Error: err.Error()})
		return eff
	}
	eff.reply(token, &pmv1.PeerSelected{Peer: e.toRecord()})
	return eff
}

func shardText(s *uint32) string {
	if s == nil {
		return ""
	}
	return fmt.Sprintf(" on shard %d", *s)
}

// ---------------------------------------------------------------------------
// Status, log and metrics

// Status is the figures of nwaku's status line.
func (m *Manager) Status(now time.Time) *pmv1.Status {
	in, out := m.relayCounts()
	st := &pmv1.Status{
		InRelayPeers: uint32(in), InRelayTarget: uint32(m.targets.InRelayPeers),
		OutRelayPeers: uint32(out), OutRelayTarget: uint32(m.targets.OutRelayPeers),
		Connected: uint32(len(m.conn)), MaxConnections: uint32(m.cfg.MaxConnections),
		PeerStoreSize: uint32(len(m.peers)), DialsInFlight: uint32(len(m.dialing)), Loaded: m.loaded,
	}
	for _, e := range m.list {
		if !e.isConnected() {
			st.NotConnected++
			if m.canBeConnected(e, now) {
				st.OutsideBackoff++
			}
		}
	}
	return st
}

// LogAndMetrics is nwaku's logAndMetrics step: the status line, the store
// size and waku_connected_peers{direction,protocol} for the Waku protocols
// of connected peers (at most MaxMetricProtocols, sorted). It returns those
// protocols so the shell can set waku_streams_peers, which needs the host.
func (m *Manager) LogAndMetrics(now time.Time) (Effects, []string) {
	var eff Effects
	st := m.Status(now)
	eff.log(slog.LevelInfo, "relay peer connections",
		"inRelayConns", fmt.Sprintf("%d/%d", st.InRelayPeers, st.InRelayTarget),
		"outRelayConns", fmt.Sprintf("%d/%d", st.OutRelayPeers, st.OutRelayTarget),
		"totalConnections", fmt.Sprintf("%d/%d", st.Connected, st.MaxConnections),
		"notConnectedPeers", st.NotConnected, "outsideBackoffPeers", st.OutsideBackoff)
	eff.Metrics = append(eff.Metrics,
		MetricOp{Name: MetricStoreSize, Value: float64(len(m.peers)), Set: true},
		MetricOp{Name: MetricConnectedPeers, Reset: true})
	protos, dropped := m.wakuProtocols()
	if dropped > 0 {
		eff.errorf(errTruncated, "more Waku protocols than MaxMetricProtocols; extra not reported", "dropped", dropped)
	}
	for _, p := range protos {
		in, out := m.ConnectedPeers(p)
		eff.Metrics = append(eff.Metrics,
			MetricOp{Name: MetricConnectedPeers, Labels: []string{"In", p}, Value: float64(len(in)), Set: true},
			MetricOp{Name: MetricConnectedPeers, Labels: []string{"Out", p}, Value: float64(len(out)), Set: true})
	}
	return eff, protos
}

// wakuProtocols is nwaku's getWakuProtos over connected peers: protocols
// under /vac/waku/ plus the relay codec, bounded.
func (m *Manager) wakuProtocols() (protos []string, dropped int) {
	set := map[string]struct{}{m.cfg.RelayCodec: {}}
	for _, e := range m.conn {
		for _, p := range e.protocols {
			if strings.HasPrefix(p, "/vac/waku/") {
				set[p] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	keep := min(len(out), m.cfg.MaxMetricProtocols)
	return out[:keep], len(out) - keep
}

// attemptSeq numbers connect dials in the order they are asked for: the
// rotation key of candidateBefore. A counter, not a time: several dials of
// one round share a time, and rounds must rotate even within one instant.
func (m *Manager) attemptSeq() uint64 {
	m.attempts++
	return m.attempts
}

// Pending is the number of dials asked of the pool and not completed, and
// of requests waiting on them.
func (m *Manager) Pending() (dials, waiters int) { return len(m.dialing), m.waiters }

// insert adds a new entry to the books. Its tie-break hash is salted with
// this node's id: every node ranks equal candidates in its own order, so
// nodes that learnt the same peers do not all dial the same ones first
// (the soak showed a third of the nodes with full inbound slots and a
// third with none).
func (m *Manager) insert(e *entry) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(m.self))
	_, _ = h.Write([]byte(e.id))
	e.tie = h.Sum64()
	m.rankShards(e)
	e.idx = int32(len(m.list))
	m.list = append(m.list, e)
	m.peers[e.id] = e
}

// remove deletes an entry from the books (swap-remove from list).
func (m *Manager) remove(e *entry) {
	last := m.list[len(m.list)-1]
	m.list[e.idx] = last
	last.idx = e.idx
	m.list[len(m.list)-1] = nil
	m.list = m.list[:len(m.list)-1]
	delete(m.peers, e.id)
}
