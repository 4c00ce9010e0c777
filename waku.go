package peermesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actors/mesh"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/discovery"
	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/message"
	"github.com/peermesh/peermesh/waku/sharding"
)

// MessageRules are the WakuMessage rules this node applies on the relay and
// that its REST API applies to what it publishes (one rule set both ways).
func (n *Node) MessageRules() message.Rules { return n.cfg.messageRules() }

func (c Config) messageRules() message.Rules {
	r := message.DefaultRules()
	if c.MaxMessageSize > 0 {
		r.MaxMessageSize = c.MaxMessageSize
	}
	r.MaxTimestampSkew = c.MaxTimestampSkew
	return r
}

// wakuValidator is the router's MessageValidator in the waku profile: every
// new message's data must be a WakuMessage that keeps the rules. A broken
// rule is counted by rule and outcome and logged at debug level with the
// message's hash; Reject charges the sender P4.
func (n *Node) wakuValidator() func(topic string, msg *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string) {
	rules := n.cfg.messageRules()
	invalid := n.metrics.invalid
	log := n.log
	return func(topic string, msg *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string) {
		_, err := rules.Decode(msg.GetData(), now)
		if err == nil {
			return mesh.ValidationAccept, "accept"
		}
		var re *message.RuleError
		if !errors.As(err, &re) {
			return mesh.ValidationReject, "reject"
		}
		invalid.WithLabelValues(string(re.Rule), re.Outcome.String()).Inc()
		if log.Enabled(context.Background(), slog.LevelDebug) {
			attrs := []any{"topic", topic, "rule", re.Rule, "outcome", re.Outcome, "err", re.Reason}
			if h, ok := message.HashData(topic, msg.GetData()); ok {
				attrs = append(attrs, "hash", h.String())
			}
			log.Debug("invalid WakuMessage", attrs...)
		}
		if re.Outcome == message.Ignore {
			return mesh.ValidationIgnore, "ignore"
		}
		return mesh.ValidationReject, "reject"
	}
}

func newInvalidMessagesCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "peermesh_waku_messages_invalid_total",
		Help: "Relayed WakuMessages that broke a rule (waku/message), by rule and relay outcome (reject charges the sender P4; ignore drops without a penalty).",
	}, []string{"rule", "outcome"})
}

// messageHash names delivered data by its RFC 14 hash in the waku profile
// ("" otherwise, or when the data is not a WakuMessage).
func (n *Node) messageHash(topic string, data []byte) string {
	if n.cfg.Profile != ProfileWaku {
		return ""
	}
	if h, ok := message.HashData(topic, data); ok {
		return h.String()
	}
	return ""
}

// buildENR signs the node's record (localRecord) and returns its text
// form; "" when the node has none.
func (n *Node) buildENR(key crypto.PrivKey) string {
	l, ok := n.localRecord(key)
	if !ok {
		return ""
	}
	text, dropped, err := enr.Build(l)
	switch {
	case errors.Is(err, enr.ErrKeyType):
		n.log.Warn("no node record (ENR): the node key is not secp256k1", "type", key.Type().String())
		return ""
	case err != nil:
		n.log.Warn("no node record (ENR)", "err", err)
		return ""
	case dropped > 0:
		n.log.Warn("node record (ENR) is full: addresses left out", "dropped", dropped)
	}
	return text
}

// localRecord is what the node's record says: the first TCP listen address
// as ip/tcp (a public one first, then private, then loopback), the other
// transports (WebSocket) as multiaddrs, relay capability, and the shards
// of ClusterID among the configured topics. The sequence number is the
// start time in seconds, so a restarted node's record replaces the old
// one. None in the libp2p profile.
func (n *Node) localRecord(key crypto.PrivKey) (enr.Local, bool) {
	if n.cfg.Profile != ProfileWaku {
		return enr.Local{}, false
	}
	l := enr.Local{Key: key, Seq: uint64(time.Now().Unix()), Waku2: enr.CapRelay, Cluster: n.cfg.ClusterID}
	if n.cfg.DisableRelay {
		l.Waku2 = 0
	}
	for _, s := range n.cfg.shards(n.cfg.PubsubTopics) {
		l.Shards = append(l.Shards, uint16(s))
	}
	best := -1
	for _, a := range n.host.Addrs() {
		ip, port, ws := splitListenAddr(a)
		switch {
		case ip == nil:
		case ws:
			l.Multiaddrs = append(l.Multiaddrs, a)
		case best < ipRank(ip):
			best, l.IP, l.TCPPort = ipRank(ip), ip, port
		}
	}
	return l, true
}

// listenDiscv5 starts discv5 with the node's record (Discv5Discovery).
func (n *Node) listenDiscv5(key crypto.PrivKey) (*discovery.Discv5, error) {
	l, _ := n.localRecord(key)
	d, err := discovery.ListenDiscv5(discovery.Discv5Config{
		Key: key, ListenIP: net.ParseIP(n.cfg.ListenAddress), UDPPort: n.cfg.Discv5UDPPort, Record: l,
		BootstrapNodes: n.cfg.Discv5BootstrapNodes, ENRAutoUpdate: n.cfg.Discv5ENRAutoUpdate, Logger: n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("discv5: %w", err)
	}
	return d, nil
}

// splitListenAddr reads /ip4|ip6/<ip>/tcp/<port>[/ws]; ip is nil for
// anything else.
func splitListenAddr(a ma.Multiaddr) (ip net.IP, port int, ws bool) {
	var ok bool
	ma.ForEach(a, func(c ma.Component) bool {
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			ip = net.IP(c.RawValue())
		case ma.P_TCP:
			p, err := strconv.Atoi(c.Value())
			ok, port = err == nil, p
		case ma.P_WS, ma.P_WSS, ma.P_TLS, ma.P_SNI:
			// go-libp2p writes a wss listener as /tls/ws (or /tls/sni/…/ws).
			ws = true
		default:
			ok = false
			return false
		}
		return true
	})
	if !ok {
		return nil, 0, false
	}
	return ip, port, ws
}

// ipRank prefers public addresses, then private ones, then loopback.
func ipRank(ip net.IP) int {
	switch {
	case ip.IsLoopback():
		return 0
	case ip.IsPrivate() || ip.IsLinkLocalUnicast():
		return 1
	}
	return 2
}

// shardTopic is autosharding in the node's cluster: the pubsub topic of a
// content topic's shard.
func (c Config) shardTopic(contentTopic string) (string, error) {
	if c.NumShardsInNetwork == 0 {
		return "", errors.New("autosharding is off (NumShardsInNetwork 0): give the pubsub topic")
	}
	s, err := sharding.AutoShard(c.ClusterID, c.NumShardsInNetwork, contentTopic)
	if err != nil {
		return "", err
	}
	return s.Topic(), nil
}

// ShardTopic is autosharding in the node's cluster: the pubsub topic
// (/waku/2/rs/<cluster>/<shard>) that carries contentTopic.
func (n *Node) ShardTopic(contentTopic string) (string, error) { return n.cfg.shardTopic(contentTopic) }

// PublishMessage publishes a WakuMessage on pubsubTopic, or on its content
// topic's shard when pubsubTopic is "" (autosharding), and returns the
// topic used and the message's RFC 14 hash. A zero timestamp is set to now,
// as nwaku does, so every implementation computes the same hash.
func (n *Node) PublishMessage(ctx context.Context, pubsubTopic string, m *wakuv1.WakuMessage) (topic, hash string, err error) {
	if m.GetTimestamp() == 0 {
		m = proto.CloneOf(m)
		m.Timestamp = proto.Int64(time.Now().UnixNano())
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return "", "", fmt.Errorf("encode WakuMessage: %w", err)
	}
	out, err := call[*apiv1.Published](ctx, n, &apiv1.Publish{Topic: pubsubTopic, Data: data})
	if err != nil {
		return "", "", err
	}
	return out.GetTopic(), out.GetMessageHash(), answerError(out.GetError())
}
