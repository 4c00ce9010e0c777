package peermanager

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// WakuRelayCodec is the relay (gossipsub) protocol of Waku; the default
// Config.RelayCodec.
const WakuRelayCodec = "/vac/waku/relay/2.0.0"

// maxBackoffCeiling is the longest backoff a configuration may produce: the
// seed refuses to start when calculateBackoff(maxFailedAttempts) exceeds one
// week, to avoid overflow and peers that are effectively banned forever.
const maxBackoffCeiling = 7 * 24 * time.Hour

// Tick names the peer manager registers with the heartbeat actor.
const (
	TickConnectivity = "peermanager.connectivity"
	TickPrune        = "peermanager.prune"
	TickLogMetrics   = "peermanager.log"
)

// Config is the peer manager's policy and its bounds. Every bound has a
// metric and a behaviour when reached, documented on the field.
type Config struct {
	// MaxConnections is the most connected peers the manager accepts; an
	// inbound peer beyond it is disconnected (waku_peers_errors{type=
	// "max_connections"}). It also derives the relay targets.
	MaxConnections int
	// PeerStoreCapacity bounds the books (nwaku: 5 × max connections): a
	// new peer beyond it first evicts the lowest-value peers, and
	// prunePeerStore brings the books back to it on its tick. Connected,
	// static, service-slot, mesh and dialed peers are never evicted.
	PeerStoreCapacity int
	// MaxPeerStoreSize is the hard bound when nothing can be evicted (every
	// peer connected or protected): a new peer beyond it is refused with an
	// error (type "peer_store_full"); connected peers are always tracked
	// (their number is bounded by MaxConnections). 0 means 2 ×
	// PeerStoreCapacity.
	MaxPeerStoreSize int
	// MaxRelayPeers overrides maxConnections − maxConnections/5 when > 0.
	MaxRelayPeers int
	// OutRelayPeers, when > 0, is the outbound relay target instead of
	// the derived one (at most MaxRelayPeers − 1, so an inbound slot
	// stays); the other relay slots are the inbound target.
	OutRelayPeers int

	// RelayCodec is the relay protocol; relay peers are those whose protocols
	// match it (prefix match, nwaku's protocolMatcher).
	RelayCodec string
	// ClusterID is our Waku cluster. With CheckCluster, a peer whose
	// metadata (PeerMetadata) names another cluster or none is disconnected
	// (waku_peers_pruned_total{reason="cluster_mismatch"}), its cluster
	// recorded, and it is never dialed or selected again (nwaku's
	// onPeerMetadata, which also deletes the peer).
	ClusterID    uint32
	CheckCluster bool
	// Shards are the shards of our cluster we relay: connectivity rounds
	// dial peers known to serve one of them first, then peers whose shards
	// are unknown, then peers known to serve only other shards.
	Shards []uint32
	// DialTimeout is asked of the dial pool for every dial (nwaku's
	// DefaultDialTimeout, 10 s).
	DialTimeout time.Duration

	// InitialBackoff and BackoffFactor give calculateBackoff:
	// InitialBackoff · BackoffFactor^(failures−1) (120 s, 4 → 120, 480,
	// 1920, 7680 s).
	InitialBackoff time.Duration
	BackoffFactor  int
	// MaxFailedAttempts: a peer that failed this many dials in a row is never
	// dialed again by the connectivity loop and is pruned first (static
	// peers excepted).
	MaxFailedAttempts int
	// StaticInitialBackoff and StaticMaxBackoff give the backoff of a static
	// peer (--staticnode, kept connected): StaticInitialBackoff ·
	// BackoffFactor^(failures−1), at most StaticMaxBackoff, however many
	// dials failed (10 s, 40 s, then 2 min).
	StaticInitialBackoff time.Duration
	StaticMaxBackoff     time.Duration

	// MaxParallelDials is the most dials one connectivity round asks of the
	// pool (nwaku's MaxParallelDials); the pool bounds dials in flight.
	MaxParallelDials int
	// ConnectivityInterval, PruneInterval and LogMetricsInterval are the
	// periods registered with the heartbeat for the three loops.
	ConnectivityInterval time.Duration
	PruneInterval        time.Duration
	LogMetricsInterval   time.Duration
	// KickDebounce is the least time between two connectivity rounds started
	// by relay peers leaving (a tick always runs a round).
	KickDebounce time.Duration

	// LoadTimeout bounds the wait for the stored peers: connectivity rounds
	// wait for the storage actor's LoadCompleted, but a round this long after
	// Start dials without it (counted as waku_peers_errors{type=
	// "storage_load_failure"}), so a storage actor that died or hangs cannot
	// keep the node from ever connecting. Records arriving later still load.
	LoadTimeout time.Duration

	// PrunedBackoff is how long a peer disconnected by a limit (inbound
	// target, colocation, max connections) is not dialed by the
	// connectivity loop, so the loop does not undo the limit at once.
	PrunedBackoff time.Duration

	// ColocationLimit is the most connected peers from one IP; peers beyond it
	// are disconnected (their records are kept). 0 disables the limit.
	ColocationLimit int
	// ColocationWhitelist lists IPs or CIDR prefixes exempt from the limit
	// (Prysm's whitelist; on 127.0.0.1 tests need it).
	ColocationWhitelist []string

	// MaxPendingRequests bounds requests waiting for dials (ConnectToNodes,
	// DialPeerRequest); one beyond it is answered at once with an error.
	MaxPendingRequests int
	// MaxNodesPerRequest bounds ConnectToNodes.nodes; beyond it the request
	// is answered with an error.
	MaxNodesPerRequest int
	// MaxAddressesPerPeer, MaxProtocolsPerPeer and MaxShardsPerPeer bound
	// one record; extra entries are dropped and counted (type "truncated").
	MaxAddressesPerPeer int
	MaxProtocolsPerPeer int
	MaxShardsPerPeer    int
	// MaxServiceSlots bounds the protocols with a service slot (and the
	// waku_service_peers series); a new protocol beyond it is refused.
	MaxServiceSlots int
	// MaxMetricProtocols bounds the protocols reported in
	// waku_connected_peers/waku_streams_peers, since protocol strings come
	// from peers.
	MaxMetricProtocols int
	// MaxMeshPeers bounds MeshPeersChanged; extra ids are ignored.
	MaxMeshPeers int
	// MaxInternedStrings bounds the table that shares protocol, agent and
	// version strings between records; once full, new strings are stored
	// unshared (more memory per record, never unbounded growth of the
	// table).
	MaxInternedStrings int
}

// DefaultConfig returns nwaku's defaults: 50 connections (40 relay peers:
// 13 out, 27 in), a 250-peer store, backoff 120 s × 4^(n−1) with 5 attempts,
// 10 dials per round, 15 s / 10 min / 3 min loops, colocation limit 5.
func DefaultConfig() Config {
	return Config{
		MaxConnections:       50,
		PeerStoreCapacity:    250,
		RelayCodec:           WakuRelayCodec,
		DialTimeout:          10 * time.Second,
		InitialBackoff:       120 * time.Second,
		BackoffFactor:        4,
		MaxFailedAttempts:    5,
		StaticInitialBackoff: 10 * time.Second,
		StaticMaxBackoff:     2 * time.Minute,
		MaxParallelDials:     10,
		ConnectivityInterval: 15 * time.Second,
		PruneInterval:        10 * time.Minute,
		LogMetricsInterval:   3 * time.Minute,
		KickDebounce:         time.Second,
		LoadTimeout:          time.Minute,
		PrunedBackoff:        2 * time.Minute,
		ColocationLimit:      5,
		MaxPendingRequests:   1024,
		MaxNodesPerRequest:   256,
		MaxAddressesPerPeer:  16,
		MaxProtocolsPerPeer:  64,
		MaxShardsPerPeer:     64,
		MaxServiceSlots:      32,
		MaxMetricProtocols:   32,
		MaxMeshPeers:         4096,
		MaxInternedStrings:   4096,
	}
}

// Targets are the relay connection targets derived from a Config.
type Targets struct {
	MaxRelayPeers, OutRelayPeers, InRelayPeers int
}

// RelayTargets derives the targets as nwaku does: maxRelayPeers =
// maxConnections − maxConnections/5 unless set; out = max(maxRelay/3, 10);
// in = the rest. Unlike nwaku, small values work: out leaves at least a
// fifth of the relay peers (at least one) to inbound, and is at least one.
// From 15 relay peers (19 connections) on the targets are nwaku's; below,
// nwaku's rule would leave no inbound slot (a network of such nodes could
// never connect) or a negative one.
func (c Config) RelayTargets() Targets {
	maxRelay := c.MaxRelayPeers
	if maxRelay <= 0 {
		maxRelay = c.MaxConnections - c.MaxConnections/5
	}
	out := max(min(max(maxRelay/3, 10), maxRelay-max(1, maxRelay/5)), min(1, maxRelay))
	if c.OutRelayPeers > 0 {
		out = min(c.OutRelayPeers, max(maxRelay-1, 1))
	}
	return Targets{MaxRelayPeers: maxRelay, OutRelayPeers: out, InRelayPeers: maxRelay - out}
}

// hardStoreLimit is MaxPeerStoreSize or its default.
func (c Config) hardStoreLimit() int {
	if c.MaxPeerStoreSize > 0 {
		return c.MaxPeerStoreSize
	}
	return 2 * c.PeerStoreCapacity
}

// Validate reports every invalid field by name, including the seed's start
// checks: MaxConnections ≤ PeerStoreCapacity, MaxRelayPeers ≤
// MaxConnections, the largest backoff ≤ 1 week. Unlike nwaku it does not
// refuse fewer relay peers than the mesh's Dhi: a light node with 4–10
// connections runs a smaller mesh.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("peermanager config: %s %s", field, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxConnections", c.MaxConnections}, {"PeerStoreCapacity", c.PeerStoreCapacity},
		{"BackoffFactor", c.BackoffFactor}, {"MaxFailedAttempts", c.MaxFailedAttempts},
		{"MaxParallelDials", c.MaxParallelDials}, {"MaxPendingRequests", c.MaxPendingRequests},
		{"MaxNodesPerRequest", c.MaxNodesPerRequest}, {"MaxAddressesPerPeer", c.MaxAddressesPerPeer},
		{"MaxProtocolsPerPeer", c.MaxProtocolsPerPeer}, {"MaxShardsPerPeer", c.MaxShardsPerPeer},
		{"MaxServiceSlots", c.MaxServiceSlots}, {"MaxMetricProtocols", c.MaxMetricProtocols},
		{"MaxMeshPeers", c.MaxMeshPeers}, {"MaxInternedStrings", c.MaxInternedStrings},
	} {
		if f.v <= 0 {
			bad(f.name, "must be > 0, got %d", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", c.DialTimeout}, {"InitialBackoff", c.InitialBackoff},
		{"ConnectivityInterval", c.ConnectivityInterval}, {"PruneInterval", c.PruneInterval},
		{"LogMetricsInterval", c.LogMetricsInterval}, {"LoadTimeout", c.LoadTimeout},
		{"StaticInitialBackoff", c.StaticInitialBackoff}, {"StaticMaxBackoff", c.StaticMaxBackoff},
	} {
		if f.v <= 0 {
			bad(f.name, "must be > 0, got %s", f.v)
		}
	}
	if c.StaticMaxBackoff < c.StaticInitialBackoff || c.StaticMaxBackoff > maxBackoffCeiling {
		bad("StaticMaxBackoff", "(%s) must be in [StaticInitialBackoff (%s), 1 week]", c.StaticMaxBackoff, c.StaticInitialBackoff)
	}
	if c.PrunedBackoff < 0 {
		bad("PrunedBackoff", "must be >= 0, got %s", c.PrunedBackoff)
	}
	if c.OutRelayPeers < 0 {
		bad("OutRelayPeers", "must be >= 0, got %d", c.OutRelayPeers)
	}
	if c.KickDebounce < 0 {
		bad("KickDebounce", "must be >= 0, got %s", c.KickDebounce)
	}
	if c.ColocationLimit < 0 {
		bad("ColocationLimit", "must be >= 0 (0 disables), got %d", c.ColocationLimit)
	}
	if c.MaxPeerStoreSize < 0 || (c.MaxPeerStoreSize > 0 && c.MaxPeerStoreSize < c.PeerStoreCapacity) {
		bad("MaxPeerStoreSize", "must be 0 or >= PeerStoreCapacity (%d), got %d", c.PeerStoreCapacity, c.MaxPeerStoreSize)
	}
	if !strings.HasPrefix(c.RelayCodec, "/") {
		bad("RelayCodec", "must be a protocol id starting with '/', got %q", c.RelayCodec)
	}
	if c.MaxConnections > c.PeerStoreCapacity {
		bad("MaxConnections", "(%d) must be <= PeerStoreCapacity (%d)", c.MaxConnections, c.PeerStoreCapacity)
	}
	if c.MaxRelayPeers < 0 || c.MaxRelayPeers > c.MaxConnections {
		bad("MaxRelayPeers", "(%d) must be in [0, MaxConnections (%d)]", c.MaxRelayPeers, c.MaxConnections)
	}
	if c.InitialBackoff > 0 && c.BackoffFactor > 0 && c.MaxFailedAttempts > 0 {
		if b := CalculateBackoff(c.InitialBackoff, c.BackoffFactor, c.MaxFailedAttempts); b > maxBackoffCeiling {
			bad("InitialBackoff/BackoffFactor/MaxFailedAttempts", "give a largest backoff of %s, over 1 week", b)
		}
	}
	for _, w := range c.ColocationWhitelist {
		if _, err := parseIPPrefix(w); err != nil {
			bad("ColocationWhitelist", "entry %q: %v", w, err)
		}
	}
	return errors.Join(errs...)
}

// CalculateBackoff is nwaku's calculateBackoff: zero for no failures, else
// initial · factor^(failures−1). It saturates at math.MaxInt64 instead of
// overflowing, so a bad configuration is caught by Validate.
func CalculateBackoff(initial time.Duration, factor, failedAttempts int) time.Duration {
	if failedAttempts <= 0 {
		return 0
	}
	b := initial
	for range failedAttempts - 1 {
		if factor > 0 && b > time.Duration(math.MaxInt64)/time.Duration(factor) {
			return time.Duration(math.MaxInt64)
		}
		b *= time.Duration(factor)
	}
	return b
}

// parseIPPrefix accepts an IP ("127.0.0.1") or a CIDR prefix ("10.0.0.0/8").
func parseIPPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
