package router

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/mesh"
	"github.com/peermesh/peermesh/actors/router/session"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

// Config of the gossipsub router. DefaultConfig(profile) gives a working
// configuration for each profile; every bound has a metric.
type Config struct {
	// Profile selects protocol ids, signature policy, message ids and frame limit.
	Profile wire.Profile
	// Session bounds each peer session (queue bytes, budgets, frame limit).
	Session session.Config
	// Mesh is the default per-topic mesh configuration; Join may override
	// the gossipsub parameters of one topic.
	Mesh mesh.Config
	// Score is the peer-score configuration; Thresholds is taken from Mesh.
	// Per-topic score parameters: set Score.Topics[topic] before start and
	// that topic is joined with them; any other topic gets Mesh.Score.
	Score score.Params
	// MaxPeers bounds the pubsub peers with a session; streams from more
	// peers are reset and counted.
	MaxPeers int
	// MaxTopics bounds the topics joined or published to (fanout); more are
	// refused with an error.
	MaxTopics int
	// MaxMessageSize bounds Message.data, bytes, for publishing and receiving.
	MaxMessageSize int
	// TopicMsgID overrides the profile's message-id function for some
	// topics (every peer of a topic must use the same one). The router
	// copies the map at start; it is read concurrently by the sessions.
	TopicMsgID map[string]wire.MsgIDFn
	// MessageValidator, when set, checks every new message of every topic before the
	// topic's validator actor (see mesh.Deps.Validate): the waku profile's
	// WakuMessage rules. It is called from topic actors concurrently, so it
	// must be safe for concurrent use.
	MessageValidator func(topic string, msg *gossipsubv1.Message, now time.Time) (mesh.ValidationResult, string)
	// SubscriptionFilter, when set, says which topics a peer may subscribe
	// to (go-libp2p-pubsub's subscription filter): a SUBSCRIBE to another
	// topic is dropped and counted (inbound_drops{topic_filtered}) and the
	// router keeps no state for it. Topics the node has joined or publishes
	// to are always accepted. The waku profile of a node accepts the shard
	// topics of its cluster and its configured topics. Called by every
	// session: it must be safe for concurrent use.
	SubscriptionFilter func(topic string) bool
	// ValidationTimeout is how long a validator actor may take (then IGNORE).
	ValidationTimeout time.Duration
	// AcceptTimeout bounds the stream handler's wait for the router to
	// accept a new inbound stream.
	AcceptTimeout time.Duration
	// DirectPeers are explicitly configured peers (gossipsub v1.1 direct
	// peering): never in a mesh (a GRAFT from one is refused and penalised
	// by the topic, and logged here as a warning: the peering must be
	// symmetric), always sent our published and forwarded messages of the
	// topics they subscribe to, and redialed through Deps.Dialer when not
	// connected, at the first heartbeat and then every DirectConnectTicks.
	// Their addresses are added to the host's peerstore at start.
	DirectPeers []peer.AddrInfo
	// DirectConnectTicks is how many heartbeats separate the redials of
	// disconnected direct peers (300 in go-libp2p-pubsub: 5 min).
	DirectConnectTicks int
	// PenaltyMalformedFrame is the behaviour penalty (P7) a peer is charged,
	// besides the stream reset, for an inbound frame that is oversized,
	// undecodable or over the entry limits (not for a truncated one: a
	// dropped connection looks the same); counted in
	// libp2p_gossipsub_behaviour_penalties_total{reason="frame_<reason>"}.
	// 0 disables it.
	PenaltyMalformedFrame float64
	// HeartbeatInterval is the gossipsub heartbeat asked of Deps.Heartbeat
	// (1 s in every implementation), first after HeartbeatInitialDelay.
	HeartbeatInterval, HeartbeatInitialDelay time.Duration
}

// DefaultConfig returns the defaults of a profile.
func DefaultConfig(p wire.Profile) Config {
	sc := session.DefaultConfig()
	sc.Protocols = p.Protocols()
	sc.MaxFrame = p.MaxFrame()
	mp, sp := mesh.ProfileLibp2p, score.DefaultLibp2pParams()
	if p == wire.ProfileWaku {
		mp, sp = mesh.ProfileWaku, score.DefaultWakuParams()
	}
	// Loopback peers are processes on this machine (tests, sidecars): many
	// of them on one address is not a Sybil signal, so P6 exempts them.
	sp.IPColocationFactorWhitelist = append(sp.IPColocationFactorWhitelist,
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	return Config{
		Profile:           p,
		Session:           sc,
		Mesh:              mesh.DefaultConfig(mp),
		Score:             sp,
		MaxPeers:          1000,
		MaxTopics:         1024,
		MaxMessageSize:    p.MaxFrame() - 1024,
		ValidationTimeout: 2 * time.Second,
		AcceptTimeout:     5 * time.Second,
		// As a GRAFT during backoff: one bad frame is a mistake, a stream of
		// them (each needing a new stream) adds up quadratically.
		PenaltyMalformedFrame: 1,
		DirectConnectTicks:    300,
		HeartbeatInterval:     time.Second,
		// go and js start after 100 ms: a joined topic grafts promptly.
		HeartbeatInitialDelay: 100 * time.Millisecond,
	}
}

// Validate returns an error naming the first invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Profile != wire.ProfileWaku && c.Profile != wire.ProfileLibp2p {
		errs = append(errs, fmt.Errorf("router: Profile %v is not waku or libp2p", c.Profile))
	}
	if err := c.Session.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("router: Session: %w", err))
	}
	if err := c.Mesh.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("router: Mesh: %w", err))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxPeers", c.MaxPeers}, {"MaxTopics", c.MaxTopics}, {"MaxMessageSize", c.MaxMessageSize}, {"DirectConnectTicks", c.DirectConnectTicks}} {
		if f.v <= 0 {
			errs = append(errs, fmt.Errorf("router: %s must be > 0, got %d", f.name, f.v))
		}
	}
	for i, d := range c.DirectPeers {
		if err := d.ID.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("router: DirectPeers[%d]: %w", i, err))
		}
	}
	if c.MaxMessageSize > c.Session.MaxFrame {
		errs = append(errs, fmt.Errorf("router: MaxMessageSize (%d) must fit in Session.MaxFrame (%d)", c.MaxMessageSize, c.Session.MaxFrame))
	}
	if c.ValidationTimeout <= 0 {
		errs = append(errs, fmt.Errorf("router: ValidationTimeout must be > 0, got %s", c.ValidationTimeout))
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatInitialDelay < 0 {
		errs = append(errs, fmt.Errorf("router: HeartbeatInterval must be > 0 and HeartbeatInitialDelay >= 0, got %s and %s",
			c.HeartbeatInterval, c.HeartbeatInitialDelay))
	}
	if !(c.PenaltyMalformedFrame >= 0) || math.IsInf(c.PenaltyMalformedFrame, 0) {
		errs = append(errs, fmt.Errorf("router: PenaltyMalformedFrame must be a finite value >= 0, got %v", c.PenaltyMalformedFrame))
	}
	if c.AcceptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("router: AcceptTimeout must be > 0, got %s", c.AcceptTimeout))
	}
	return errors.Join(errs...)
}
