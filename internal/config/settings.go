package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/multiformats/go-multiaddr"

	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/sharding"
)

// Profile selects the gossipsub flavour of the node.
type Profile string

const (
	// ProfileWaku speaks /vac/waku/relay/2.0.0: unsigned messages whose data
	// is a WakuMessage, content-derived message ids.
	ProfileWaku Profile = "waku"
	// ProfileLibp2p speaks /meshsub/1.x with signed messages.
	ProfileLibp2p Profile = "libp2p"
)

// DefaultPubsubTopic is the static shard 0 of cluster 0, nwaku's default
// shard once named shards replaced /waku/2/default-waku/proto.
const DefaultPubsubTopic = "/waku/2/rs/0/0"

// Settings is everything one node process can be configured with.
type Settings struct {
	ConfigFile string

	// NodeKey is a 64-hex-digit secp256k1 private key; empty means the key
	// kept in DataDir (created on first start).
	NodeKey       string
	DataDir       string
	Profile       Profile
	ListenAddress string
	TCPPort       int
	// WebSocketSupport and WebSocketPort are nwaku's --websocket-support
	// and --websocket-port.
	WebSocketSupport bool
	WebSocketPort    int
	// WebSocketSecureSupport, WebSocketSecureCertPath and
	// WebSocketSecureKeyPath are nwaku's --websocket-secure-support,
	// --websocket-secure-cert-path and --websocket-secure-key-path.
	WebSocketSecureSupport  bool
	WebSocketSecureCertPath string
	WebSocketSecureKeyPath  string
	// StaticNodes are multiaddrs with /p2p/<id> or node records (enr:…).
	StaticNodes []string
	// Relay false (nwaku's --relay=false) runs no gossipsub.
	Relay bool
	// ClusterID, Shards and NumShardsInNetwork are nwaku's --cluster-id,
	// --shard and --num-shards-in-network; NumShardsInNetwork -1 means
	// "not given": 8 on cluster 1 (The Waku Network), else 1.
	ClusterID          int
	Shards             []int
	NumShardsInNetwork int
	// PubsubTopics are named topics relayed besides the shards.
	PubsubTopics []string
	// MaxMsgSize is nwaku's --max-msg-size ("150KiB", "1MiB", bytes).
	MaxMsgSize string

	// Discv5Discovery, Discv5UDPPort, Discv5BootstrapNodes (enr:…) and
	// Discv5ENRAutoUpdate are nwaku's --discv5-* flags.
	Discv5Discovery      bool
	Discv5UDPPort        int
	Discv5BootstrapNodes []string
	Discv5ENRAutoUpdate  bool
	// PeerExchange serves Waku peer exchange (nwaku's --peer-exchange);
	// PeerExchangeNode is asked for peers when the node has too few
	// (--peer-exchange-node: multiaddr with /p2p/<id> or enr:…).
	PeerExchange     bool
	PeerExchangeNode string

	MaxConnections int
	// PeerStoreCapacity 0 means 5 × MaxConnections (nwaku's rule, resolved by
	// peermesh.Config).
	PeerStoreCapacity int
	PeerPersistence   bool
	// PeerStoreMoveCorrupt moves a corrupt peer store aside and starts empty
	// instead of refusing to start (peermesh.Config.MoveCorruptPeerStore).
	PeerStoreMoveCorrupt bool
	IPColocationLimit    int
	RelayPeerExchange    bool
	// StrictScoring turns P3/P3b on in the waku profile (ADR 0013).
	StrictScoring bool

	REST                   bool
	RESTAddress            string
	RESTPort               int
	RESTRelayCacheCapacity int
	// RESTAdmin serves /admin/v1/* (nwaku's --rest-admin, off by
	// default); RESTAllowOrigins are the origins browsers may call the API
	// from (--rest-allow-origin, repeatable, * and ? wildcards).
	RESTAdmin        bool
	RESTAllowOrigins []string

	MetricsServer        bool
	MetricsServerAddress string
	MetricsServerPort    int

	LogLevel  string
	LogFormat string
	// StatusInterval is how often the node logs its status line (peers
	// against targets, mesh per shard, messages/s, drops); 0 turns it off.
	StatusInterval string

	// PortsShift is added to every port setting that is not 0 (TCP,
	// WebSocket, discv5, REST, metrics), as nwaku's --ports-shift, so
	// several nodes on one machine differ by one setting.
	PortsShift int
}

// Default returns the settings of `go run ./cmd/node` with nothing else
// given. They are nwaku's defaults except where peermesh is meant to be
// useful out of the box: REST, metrics and peer persistence are on, because
// the node always has a data directory and binds its servers to 127.0.0.1.
func Default() Settings {
	return Settings{
		DataDir:                "./peermesh-data",
		Profile:                ProfileWaku,
		ListenAddress:          "0.0.0.0",
		TCPPort:                60000,
		WebSocketPort:          8000,
		Relay:                  true,
		NumShardsInNetwork:     -1,
		MaxMsgSize:             "150KiB",
		Discv5UDPPort:          9000,
		PeerExchange:           true,
		MaxConnections:         50,
		PeerPersistence:        true,
		IPColocationLimit:      5,
		REST:                   true,
		RESTAddress:            "127.0.0.1",
		RESTPort:               8645,
		RESTRelayCacheCapacity: 50,
		MetricsServer:          true,
		MetricsServerAddress:   "127.0.0.1",
		MetricsServerPort:      8008,
		LogLevel:               "info",
		LogFormat:              "text",
		StatusInterval:         "30s",
	}
}

// Limits for settings that would otherwise be unbounded.
const (
	maxTopics      = 64
	maxTopicLength = 255
	maxStaticNodes = 256
	maxBootstrap   = 64
)

// Validate checks every setting; the error names the first bad one as its
// flag (e.g. "--tcp-port").
func (s Settings) Validate() error {
	if s.NodeKey != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(s.NodeKey, "0x"))
		if err != nil || len(b) != 32 {
			return settingError("nodekey", "must be 64 hex digits (a secp256k1 private key)")
		}
		// Zero and values of the curve order or more are not keys (nwaku
		// refuses them too); some libraries would silently reduce them.
		if _, err := gethcrypto.ToECDSA(b); err != nil {
			return settingError("nodekey", "not a valid secp256k1 private key (zero, or not below the curve order)")
		}
	}
	if s.PortsShift < 0 || s.PortsShift > 65535 {
		return settingError("ports-shift", fmt.Sprintf("%d, must be between 0 and 65535", s.PortsShift))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"tcp-port", s.TCPPort}, {"websocket-port", s.WebSocketPort}, {"discv5-udp-port", s.Discv5UDPPort},
		{"rest-port", s.RESTPort}, {"metrics-server-port", s.MetricsServerPort}} {
		if p.port > 0 && p.port+s.PortsShift > 65535 {
			return settingError("ports-shift", fmt.Sprintf("--%s %d shifted by %d is beyond 65535", p.name, p.port, s.PortsShift))
		}
	}
	if strings.TrimSpace(s.DataDir) == "" {
		return settingError("data-dir", "must not be empty")
	}
	switch s.Profile {
	case ProfileWaku, ProfileLibp2p:
	default:
		return settingError("profile", fmt.Sprintf("%q is not one of waku, libp2p", s.Profile))
	}
	if err := checkAddress("listen-address", s.ListenAddress, "tcp-port", s.TCPPort); err != nil {
		return err
	}
	if len(s.StaticNodes) > maxStaticNodes {
		return settingError("staticnode", fmt.Sprintf("%d given, at most %d", len(s.StaticNodes), maxStaticNodes))
	}
	for _, a := range s.StaticNodes {
		if err := checkPeerAddr(a); err != nil {
			return settingError("staticnode", err.Error())
		}
	}
	if s.WebSocketSupport || s.WebSocketSecureSupport {
		if err := checkAddress("listen-address", s.ListenAddress, "websocket-port", s.WebSocketPort); err != nil {
			return err
		}
	}
	if err := s.checkSecureWebSocket(); err != nil {
		return err
	}
	if s.Discv5UDPPort < 0 || s.Discv5UDPPort > 65535 {
		return settingError("discv5-udp-port", fmt.Sprintf("%d is not a UDP port (0-65535)", s.Discv5UDPPort))
	}
	if s.Discv5Discovery && s.Profile != ProfileWaku {
		return settingError("discv5-discovery", "discv5 finds Waku nodes: it needs --profile=waku")
	}
	if len(s.Discv5BootstrapNodes) > maxBootstrap {
		return settingError("discv5-bootstrap-node", fmt.Sprintf("%d given, at most %d", len(s.Discv5BootstrapNodes), maxBootstrap))
	}
	for _, b := range s.Discv5BootstrapNodes {
		if !strings.HasPrefix(b, enr.Prefix) {
			return settingError("discv5-bootstrap-node", fmt.Sprintf("%.24q is not a node record (enr:…); nwaku takes no multiaddr here either", b))
		}
		if _, err := enr.Parse(b); err != nil {
			return settingError("discv5-bootstrap-node", fmt.Sprintf("%.24q…: %v", b, err))
		}
	}
	if s.PeerExchangeNode != "" {
		if err := checkPeerAddr(s.PeerExchangeNode); err != nil {
			return settingError("peer-exchange-node", err.Error())
		}
	}
	if s.ClusterID < 0 || s.ClusterID > 65535 {
		return settingError("cluster-id", fmt.Sprintf("%d is not a cluster id (0-65535)", s.ClusterID))
	}
	if n := s.NumShardsInNetwork; n < -1 || n > sharding.MaxShards {
		return settingError("num-shards-in-network", fmt.Sprintf("%d, must be between 0 and %d", n, sharding.MaxShards))
	}
	for _, sh := range s.Shards {
		if sh < 0 || sh >= sharding.MaxShards {
			return settingError("shard", fmt.Sprintf("%d is not a shard (0-%d)", sh, sharding.MaxShards-1))
		}
		if n := s.NumShards(); n > 0 && sh >= n {
			return settingError("shard", fmt.Sprintf("%d is not below --num-shards-in-network (%d)", sh, n))
		}
	}
	if _, err := ParseSize(s.MaxMsgSize); err != nil {
		return settingError("max-msg-size", err.Error())
	}
	if s.Relay && len(s.Topics()) == 0 {
		return settingError("shard", "no topic to relay: give --shard or --pubsub-topic, or --num-shards-in-network above 0")
	}
	if len(s.Topics()) > maxTopics {
		return settingError("shard", fmt.Sprintf("%d topics, at most %d", len(s.Topics()), maxTopics))
	}
	if len(s.PubsubTopics) > maxTopics {
		return settingError("pubsub-topic", fmt.Sprintf("%d given, at most %d", len(s.PubsubTopics), maxTopics))
	}
	for _, t := range s.PubsubTopics {
		if err := CheckTopic(t); err != nil {
			return settingError("pubsub-topic", err.Error())
		}
	}
	if s.MaxConnections < 1 {
		return settingError("max-connections", fmt.Sprintf("%d, must be at least 1", s.MaxConnections))
	}
	if s.PeerStoreCapacity < 0 || (s.PeerStoreCapacity > 0 && s.PeerStoreCapacity < s.MaxConnections) {
		return settingError("peer-store-capacity", fmt.Sprintf("%d, must be 0 (5 × max-connections) or at least max-connections (%d)", s.PeerStoreCapacity, s.MaxConnections))
	}
	if s.IPColocationLimit < 0 {
		return settingError("ip-colocation-limit", fmt.Sprintf("%d, must be 0 (off) or positive", s.IPColocationLimit))
	}
	if err := checkServer(s.REST, "rest", s.RESTAddress, s.RESTPort); err != nil {
		return err
	}
	if len(s.RESTAllowOrigins) > maxStaticNodes {
		return settingError("rest-allow-origin", fmt.Sprintf("%d given, at most %d", len(s.RESTAllowOrigins), maxStaticNodes))
	}
	for _, o := range s.RESTAllowOrigins {
		if o == "" || strings.ContainsAny(o, " \t\r\n") {
			return settingError("rest-allow-origin", fmt.Sprintf("%q is not an origin pattern (e.g. http://localhost:*)", o))
		}
	}
	if s.RESTRelayCacheCapacity < 1 || s.RESTRelayCacheCapacity > 100_000 {
		return settingError("rest-relay-cache-capacity", fmt.Sprintf("%d, must be between 1 and 100000", s.RESTRelayCacheCapacity))
	}
	if err := checkServer(s.MetricsServer, "metrics-server", s.MetricsServerAddress, s.MetricsServerPort); err != nil {
		return err
	}
	switch strings.ToLower(s.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return settingError("log-level", fmt.Sprintf("%q is not one of debug, info, warn, error", s.LogLevel))
	}
	if d, err := time.ParseDuration(s.StatusInterval); s.StatusInterval != "0" && (err != nil || d < time.Second) {
		return settingError("status-interval", fmt.Sprintf("%q is not a duration of at least 1s (e.g. 30s, 1m), or 0", s.StatusInterval))
	}
	switch strings.ToLower(s.LogFormat) {
	case "text", "json":
	default:
		return settingError("log-format", fmt.Sprintf("%q is not one of text, json", s.LogFormat))
	}
	return nil
}

// Shifted is s with --ports-shift applied: PortsShift added to every port
// that is not 0 (0 still picks a free port), and PortsShift 0.
func (s Settings) Shifted() Settings {
	for _, p := range []*int{&s.TCPPort, &s.WebSocketPort, &s.Discv5UDPPort, &s.RESTPort, &s.MetricsServerPort} {
		if *p > 0 {
			*p += s.PortsShift
		}
	}
	s.PortsShift = 0
	return s
}

// StatusEvery is --status-interval (0: no status line).
func (s Settings) StatusEvery() time.Duration {
	d, _ := time.ParseDuration(s.StatusInterval)
	return d
}

// NumShards resolves --num-shards-in-network: as given, else 8 on cluster
// 1 (nwaku applies The Waku Network's preset there; js-waku's default
// network is cluster 1 with 8 shards), else 1 (nwaku's default).
func (s Settings) NumShards() int {
	switch {
	case s.NumShardsInNetwork >= 0:
		return s.NumShardsInNetwork
	case s.ClusterID == 1:
		return 8
	}
	return 1
}

// Topics are the pubsub topics to relay: the shard topics of --shard (by
// default every shard of the network, as nwaku subscribes, unless only
// --pubsub-topic was given), then the named --pubsub-topic ones. None when
// relay is off. A fresh node relays /waku/2/rs/0/0, as a fresh nwaku does.
func (s Settings) Topics() []string {
	if !s.Relay {
		return nil
	}
	var shards []uint16
	switch {
	case len(s.Shards) > 0:
		for _, sh := range s.Shards {
			shards = append(shards, uint16(sh))
		}
	case len(s.PubsubTopics) == 0:
		shards = sharding.AllShards(s.NumShards())
	}
	out := sharding.Topics(uint16(s.ClusterID), shards)
	for _, t := range s.PubsubTopics {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// MaxMessageSize is --max-msg-size in bytes (Validate has checked it).
func (s Settings) MaxMessageSize() int {
	n, _ := ParseSize(s.MaxMsgSize)
	return n
}

// ParseSize reads a size as nwaku's --max-msg-size takes it: a number of
// bytes, optionally followed by B, KiB, MiB (1024-based) or KB, MB
// (1000-based), case-insensitive.
func ParseSize(v string) (int, error) {
	t := strings.TrimSpace(v)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(t[:i])
	if err != nil || i == 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 150KiB, 1MiB, 153600)", v)
	}
	mult := map[string]int{"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "kb": 1000, "mb": 1000 * 1000}[strings.ToLower(strings.TrimSpace(t[i:]))]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit (B, KiB, MiB, KB, MB)", v)
	}
	if n <= 0 || n > (64<<20)/mult {
		return 0, fmt.Errorf("%q: must be between 1 byte and 64 MiB", v)
	}
	return n * mult, nil
}

// CheckTopic reports why t cannot be a pubsub topic name.
func CheckTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("topic must not be empty")
	case len(t) > maxTopicLength:
		return fmt.Errorf("topic %.20q… is %d bytes, at most %d", t, len(t), maxTopicLength)
	case strings.ContainsAny(t, " \t\r\n"):
		return fmt.Errorf("topic %q contains white space", t)
	}
	return nil
}

// checkServer checks the address and port settings <name>-address and
// <name>-port of a server, when it is enabled.
func checkServer(enabled bool, name, addr string, port int) error {
	if !enabled {
		return nil
	}
	return checkAddress(name+"-address", addr, name+"-port", port)
}

// checkAddress checks an IP setting and its TCP port setting (0: any port).
func checkAddress(addrName, addr, portName string, port int) error {
	if net.ParseIP(addr) == nil {
		return settingError(addrName, fmt.Sprintf("%q is not an IP address", addr))
	}
	if port < 0 || port > 65535 {
		return settingError(portName, fmt.Sprintf("%d is not a TCP port (0-65535)", port))
	}
	return nil
}

// checkPeerAddr accepts a multiaddr that names its peer (/p2p/<id>), or a
// node record enr:… with an address.
func checkPeerAddr(s string) error {
	if strings.HasPrefix(s, enr.Prefix) {
		r, err := enr.Parse(s)
		if err != nil {
			return fmt.Errorf("%.24q…: %v", s, err)
		}
		if len(r.Addrs) == 0 {
			return fmt.Errorf("%.24q…: the node record has no address", s)
		}
		return nil
	}
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("%q is not a multiaddr: %v", s, err)
	}
	if _, err := ma.ValueForProtocol(multiaddr.P_P2P); err != nil {
		return fmt.Errorf("%q has no /p2p/<peer id> part", s)
	}
	return nil
}

// Error is a problem with one setting; cmd/node exits with status 2 on it.
type Error struct {
	Setting string
	Reason  string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid setting --%s: %s", e.Setting, e.Reason) }

func settingError(name, reason string) error { return &Error{Setting: name, Reason: reason} }

// checkSecureWebSocket: --websocket-secure-support needs both PEM files, and
// they must be readable now rather than when the listener starts.
func (s *Settings) checkSecureWebSocket() error {
	if !s.WebSocketSecureSupport {
		if s.WebSocketSecureCertPath != "" || s.WebSocketSecureKeyPath != "" {
			return settingError("websocket-secure-support", "a certificate or key path is given but secure WebSocket is off")
		}
		return nil
	}
	for _, f := range []struct{ name, path string }{
		{"websocket-secure-cert-path", s.WebSocketSecureCertPath},
		{"websocket-secure-key-path", s.WebSocketSecureKeyPath},
	} {
		if f.path == "" {
			return settingError(f.name, "required with --websocket-secure-support")
		}
		if _, err := os.Stat(f.path); err != nil {
			return settingError(f.name, err.Error())
		}
	}
	return nil
}
