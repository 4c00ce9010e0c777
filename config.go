package peermesh

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/sharding"
)

// Profile names of Config.Profile.
const (
	ProfileWaku   = "waku"
	ProfileLibp2p = "libp2p"
)

// DefaultPubsubTopic is cluster 0, shard 0 in Waku's static sharding.
const DefaultPubsubTopic = "/waku/2/rs/0/0"

// Config configures one node.
type Config struct {
	// Name is the node actor's name in its ActorSystem; nodes sharing a
	// system need different names.
	Name string
	// Key is the libp2p identity. When nil the key in DataDir is used
	// (created on first start), or a fresh key when DataDir is empty.
	Key crypto.PrivKey
	// DataDir holds the node key ("nodekey") and the peer store
	// ("peers.db"). Empty means nothing is kept on disk.
	DataDir string
	// ListenAddress and TCPPort are where libp2p listens (TCP, Noise,
	// Yamux). Port 0 picks a free port.
	ListenAddress string
	TCPPort       int
	// WebSocketSupport adds a WebSocket listener on WebSocketPort (nwaku's
	// --websocket-support / --websocket-port; 0 picks a free port), the
	// transport js-waku dials.
	WebSocketSupport bool
	WebSocketPort    int
	// WebSocketSecureCertPath and WebSocketSecureKeyPath (PEM files; nwaku's
	// --websocket-secure-support with --websocket-secure-cert-path and
	// --websocket-secure-key-path) make the WebSocket listener secure (wss):
	// js-waku's default node dials only wss addresses. Both or neither;
	// they require WebSocketSupport.
	WebSocketSecureCertPath string
	WebSocketSecureKeyPath  string
	// Profile is ProfileWaku or ProfileLibp2p.
	Profile string
	// PubsubTopics are joined at start and kept joined until Stop. Shard
	// topics of ClusterID (/waku/2/rs/<cluster>/<shard>; see
	// sharding.Topics) are the shards the node says it relays.
	PubsubTopics []string
	// ClusterID is the Waku cluster (nwaku's --cluster-id). In the waku
	// profile every new connection exchanges metadata (RFC 66), and a peer
	// on another cluster is disconnected and never dialed again.
	ClusterID uint16
	// NumShardsInNetwork is the number of shards autosharding maps content
	// topics onto (nwaku's --num-shards-in-network); 0 means the cluster
	// uses static sharding only.
	NumShardsInNetwork int
	// StaticNodes (multiaddrs with /p2p/<id>, or Waku node records
	// "enr:…", whose first address is dialled) are dialled at start and
	// kept connected.
	StaticNodes []string
	// Discv5Discovery runs discv5 (RFC 33: go-ethereum's p2p/discover v5
	// with the Waku protocol id d5waku) on UDP Discv5UDPPort of
	// ListenAddress (nwaku's --discv5-discovery and --discv5-udp-port; 0
	// picks a free port). Records found on ClusterID sharing one of our
	// shards are handed to the peer manager (origin discv5), which dials
	// them through the dial pool. Waku profile; the node key must be
	// secp256k1. The node record then carries the UDP port (Node.ENR).
	Discv5Discovery bool
	Discv5UDPPort   int
	// Discv5BootstrapNodes are node records (enr:…) to join discv5
	// through (nwaku's --discv5-bootstrap-node).
	Discv5BootstrapNodes []string
	// Discv5ENRAutoUpdate lets the IP in the node record follow what discv5
	// peers see (nwaku's --discv5-enr-auto-update).
	Discv5ENRAutoUpdate bool
	// PeerExchange serves Waku peer exchange (RFC 34): the records found
	// through discv5, rate-limited (nwaku's --peer-exchange, on by
	// default). Waku profile.
	PeerExchange bool
	// PeerExchangeNode (a multiaddr with /p2p/<id>, or enr:…) is asked for
	// records when the peer manager has fewer dialable candidates than it
	// misses outbound relay peers (nwaku's --peer-exchange-node).
	PeerExchangeNode string
	// OutRelayPeers, when positive, is the outbound relay target, instead
	// of nwaku's derivation from MaxConnections (max(relay/3, 10), capped
	// for small nodes); the rest of the relay slots take inbound peers.
	OutRelayPeers int
	// MaxConnections caps libp2p connections (nwaku's --max-connections);
	// connections beyond it are refused by the resource manager.
	MaxConnections int
	// PeerStoreCapacity bounds the peer store; 0 means 5 × MaxConnections.
	PeerStoreCapacity int
	// PeerPersistence keeps peer records in DataDir (ignored without one)
	// and reconnects to them after a restart.
	PeerPersistence bool
	// MoveCorruptPeerStore: when the peer store file is corrupt (it fails
	// to open or its checks, storage.ErrCorrupt), rename it to
	// "peers.db.corrupt-<UTC time>" and start with an empty store, still
	// dialing StaticNodes. Off (the default), New refuses to start naming
	// the file, which under a supervisor that restarts on exit is a restart
	// loop until an operator looks (reliability case F12).
	MoveCorruptPeerStore bool
	// IPColocationLimit is the most peers accepted from one IP (0: off).
	IPColocationLimit int
	// RelayPeerExchange enables gossipsub peer exchange on PRUNE.
	RelayPeerExchange bool
	// DisableRelay runs the node without the gossipsub router (nwaku's
	// --relay=false): no topic is joined, pubsub requests are refused.
	DisableRelay bool
	// MaxMessageSize bounds an encoded WakuMessage, bytes (nwaku's
	// --max-msg-size); 0 means 150 KiB. Larger messages are rejected on
	// the relay (P4) and refused by Publish and REST.
	MaxMessageSize int
	// MaxTimestampSkew, when positive, drops relayed messages (without a
	// penalty) and refuses publications whose timestamp is further than
	// this from now. 0 checks no timestamp, as nwaku and go-waku without RLN.
	MaxTimestampSkew time.Duration
	// StrictScoring runs the waku profile with P3 and P3b on
	// (score.StrictWakuTopicParams): silent mesh peers are pruned, at the
	// cost of pruning honest peers on quiet topics. Off, the waku profile
	// scores exactly like nwaku (ADR 0013). The libp2p profile always
	// scores P3.
	StrictScoring bool

	// MaxSubscribers bounds local subscribers per topic and MaxWatchers the
	// watcher actors; further Subscribe / Watch requests are refused.
	MaxSubscribers int
	MaxWatchers    int
	// MaxTopics bounds the topics the node joins.
	MaxTopics int
	// RequestTimeout bounds each request the node makes to its own actors
	// and each blocking call of the Node methods.
	RequestTimeout time.Duration
	// StopTimeout bounds Stop: leaving topics and flushing the store.
	StopTimeout time.Duration

	// Logger receives the node's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives every metric of the node; nil means a registry of
	// the node's own (Node.Gatherer).
	Registerer prometheus.Registerer
}

// DefaultConfig returns nwaku's defaults for an embedded node that keeps
// nothing on disk and listens on a free loopback port.
func DefaultConfig() Config {
	return Config{
		Name:               "peermesh",
		ListenAddress:      "127.0.0.1",
		TCPPort:            0,
		Profile:            ProfileWaku,
		PubsubTopics:       []string{DefaultPubsubTopic},
		NumShardsInNetwork: 1,
		MaxConnections:     50,
		IPColocationLimit:  5,
		PeerExchange:       true,
		MaxSubscribers:     1024,
		MaxWatchers:        64,
		MaxTopics:          64,
		RequestTimeout:     5 * time.Second,
		StopTimeout:        4 * time.Second,
	}
}

// Validate names every invalid field (the errors joined).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("peermesh: Config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		bad("Name", "must not be empty")
	}
	if net.ParseIP(c.ListenAddress) == nil {
		bad("ListenAddress", "%q is not an IP address", c.ListenAddress)
	}
	if c.TCPPort < 0 || c.TCPPort > 65535 {
		bad("TCPPort", "%d is not a TCP port", c.TCPPort)
	}
	if c.WebSocketPort < 0 || c.WebSocketPort > 65535 {
		bad("WebSocketPort", "%d is not a TCP port", c.WebSocketPort)
	}
	if (c.WebSocketSecureCertPath == "") != (c.WebSocketSecureKeyPath == "") {
		bad("WebSocketSecureCertPath", "a secure WebSocket needs both a certificate and a key file")
	} else if c.WebSocketSecureCertPath != "" && !c.WebSocketSupport {
		bad("WebSocketSecureCertPath", "a secure WebSocket needs WebSocketSupport")
	}
	if c.Profile != ProfileWaku && c.Profile != ProfileLibp2p {
		bad("Profile", "%q is not %q or %q", c.Profile, ProfileWaku, ProfileLibp2p)
	}
	if c.MaxTopics < 1 {
		bad("MaxTopics", "%d must be positive", c.MaxTopics)
	} else if len(c.PubsubTopics) > c.MaxTopics {
		bad("PubsubTopics", "%d topics, more than MaxTopics %d", len(c.PubsubTopics), c.MaxTopics)
	}
	for _, t := range c.PubsubTopics {
		if t == "" {
			bad("PubsubTopics", "empty topic")
		}
	}
	for _, s := range c.StaticNodes {
		if _, err := parsePeerAddr(s); err != nil {
			bad("StaticNodes", "%v", err)
		}
	}
	if c.NumShardsInNetwork < 0 || c.NumShardsInNetwork > sharding.MaxShards {
		bad("NumShardsInNetwork", "%d is not between 0 and %d", c.NumShardsInNetwork, sharding.MaxShards)
	}
	if c.Discv5UDPPort < 0 || c.Discv5UDPPort > 65535 {
		bad("Discv5UDPPort", "%d is not a UDP port", c.Discv5UDPPort)
	}
	if c.Discv5Discovery && c.Profile != ProfileWaku {
		bad("Discv5Discovery", "discv5 finds Waku nodes: it needs the %q profile", ProfileWaku)
	}
	for _, b := range c.Discv5BootstrapNodes {
		if _, err := enr.Parse(b); err != nil {
			bad("Discv5BootstrapNodes", "%.24q…: %v", b, err)
		}
	}
	if c.PeerExchangeNode != "" {
		if _, err := parsePeerAddr(c.PeerExchangeNode); err != nil {
			bad("PeerExchangeNode", "%v", err)
		}
	}
	if c.OutRelayPeers < 0 {
		bad("OutRelayPeers", "%d must not be negative", c.OutRelayPeers)
	}
	if c.MaxMessageSize < 0 {
		bad("MaxMessageSize", "%d must not be negative", c.MaxMessageSize)
	}
	if c.MaxTimestampSkew < 0 {
		bad("MaxTimestampSkew", "%s must not be negative", c.MaxTimestampSkew)
	}
	if c.MaxConnections < 1 {
		bad("MaxConnections", "%d must be positive", c.MaxConnections)
	}
	if c.PeerStoreCapacity < 0 {
		bad("PeerStoreCapacity", "%d must not be negative", c.PeerStoreCapacity)
	}
	if c.IPColocationLimit < 0 {
		bad("IPColocationLimit", "%d must not be negative", c.IPColocationLimit)
	}
	if c.MaxConnections >= 1 && c.PeerStoreCapacity >= 0 && c.IPColocationLimit >= 0 {
		// The peer manager's configuration derives from these fields; what
		// it refuses is a refusal of theirs.
		if err := c.peerManagerConfig().Validate(); err != nil {
			bad("MaxConnections/PeerStoreCapacity/IPColocationLimit", "%v", err)
		}
	}
	if c.MaxSubscribers < 1 {
		bad("MaxSubscribers", "%d must be positive", c.MaxSubscribers)
	}
	if c.MaxWatchers < 1 {
		bad("MaxWatchers", "%d must be positive", c.MaxWatchers)
	}
	if c.RequestTimeout <= 0 {
		bad("RequestTimeout", "%s must be positive", c.RequestTimeout)
	}
	if c.StopTimeout <= 0 {
		bad("StopTimeout", "%s must be positive", c.StopTimeout)
	}
	return errors.Join(errs...)
}

// shards are the shard indices of ClusterID among topics, sorted.
func (c Config) shards(topics []string) []uint32 {
	var out []uint32
	for _, t := range topics {
		if s, err := sharding.ParseTopic(t); err == nil && s.Cluster == c.ClusterID {
			out = append(out, uint32(s.Index))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// peerStoreCapacity resolves the 0 default.
func (c Config) peerStoreCapacity() int {
	if c.PeerStoreCapacity == 0 {
		return 5 * c.MaxConnections
	}
	return c.PeerStoreCapacity
}

// staticNodes are StaticNodes as multiaddrs with /p2p/<id>: a node record
// becomes its first address (a TCP one when it has one, as nwaku dials).
func (c Config) staticNodes() []string {
	out := make([]string, 0, len(c.StaticNodes))
	for _, s := range c.StaticNodes {
		if a, err := parsePeerAddr(s); err == nil {
			out = append(out, a.String())
		}
	}
	return out
}

// parsePeerAddr parses a multiaddr that must name its peer, or a node
// record (enr:…), which becomes its first address with /p2p/<id>.
func parsePeerAddr(s string) (multiaddr.Multiaddr, error) {
	if strings.HasPrefix(s, enr.Prefix) {
		r, err := enr.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("node record %.24q…: %w", s, err)
		}
		if len(r.Addrs) == 0 {
			return nil, fmt.Errorf("node record %.24q… has no address", s)
		}
		return r.Addrs[0].Encapsulate(multiaddr.StringCast("/p2p/" + r.PeerID.String())), nil
	}
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("multiaddr %q: %w", s, err)
	}
	if _, err := ma.ValueForProtocol(multiaddr.P_P2P); err != nil {
		return nil, fmt.Errorf("multiaddr %q has no /p2p/<peer id>", s)
	}
	return ma, nil
}
