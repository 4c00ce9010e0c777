package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/multiformats/go-multiaddr"
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
	StaticNodes   []string
	PubsubTopics  []string

	MaxConnections int
	// PeerStoreCapacity 0 means 5 × MaxConnections (nwaku's rule, resolved by
	// peermesh.Config).
	PeerStoreCapacity int
	PeerPersistence   bool
	IPColocationLimit int
	RelayPeerExchange bool
	// StrictScoring turns P3/P3b on in the waku profile (ADR 0013).
	StrictScoring bool

	REST                   bool
	RESTAddress            string
	RESTPort               int
	RESTRelayCacheCapacity int

	MetricsServer        bool
	MetricsServerAddress string
	MetricsServerPort    int

	LogLevel  string
	LogFormat string
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
		PubsubTopics:           []string{DefaultPubsubTopic},
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
	}
}

// Limits for settings that would otherwise be unbounded.
const (
	maxTopics      = 64
	maxTopicLength = 255
	maxStaticNodes = 256
)

// Validate checks every setting; the error names the first bad one as its
// flag (e.g. "--tcp-port").
func (s Settings) Validate() error {
	if s.NodeKey != "" {
		b, err := hex.DecodeString(strings.TrimPrefix(s.NodeKey, "0x"))
		if err != nil || len(b) != 32 {
			return settingError("nodekey", "must be 64 hex digits (a secp256k1 private key)")
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
	if len(s.PubsubTopics) == 0 {
		return settingError("pubsub-topic", "at least one topic is required")
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
	switch strings.ToLower(s.LogFormat) {
	case "text", "json":
	default:
		return settingError("log-format", fmt.Sprintf("%q is not one of text, json", s.LogFormat))
	}
	return nil
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

// checkPeerAddr accepts a multiaddr that names its peer (/p2p/<id>).
func checkPeerAddr(s string) error {
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
