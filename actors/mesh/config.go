package mesh

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

// Profile selects a family of defaults.
type Profile int

const (
	// ProfileWaku follows nwaku's relay settings (29/WAKU2-CONFIG): D 6/4/8, Dout 3, history 6/3.
	ProfileWaku Profile = iota + 1
	// ProfileLibp2p follows go/rust-libp2p's gossipsub defaults: D 6/5/12, Dout 2, history 5/3.
	ProfileLibp2p
)

// Config holds one topic's mesh parameters. Every table the Topic keeps has a
// limit here; what happens when it is full is documented on the field and
// counted in [Stats].
type Config struct {
	// D is the target mesh degree; Dlo and Dhi the bounds that trigger
	// grafting and pruning; Dscore the peers kept by score when pruning;
	// Dout the outbound peers kept in the mesh (eclipse defence); Dlazy the
	// minimum number of peers gossiped to per heartbeat.
	D, Dlo, Dhi, Dscore, Dout, Dlazy int
	// GossipFactor: gossip goes to max(Dlazy, GossipFactor·eligible) peers.
	GossipFactor float64

	// HistoryLength is the number of heartbeat windows the message cache
	// keeps; HistoryGossip the most recent windows advertised in IHAVE.
	HistoryLength, HistoryGossip int

	// FanoutTTL drops the fanout of a topic we have not published to for this long.
	FanoutTTL time.Duration
	// SeenTTL is how long a message id stays in the seen cache.
	SeenTTL time.Duration

	// PruneBackoff is the backoff we announce in a PRUNE and apply to the
	// pruned peer; UnsubscribeBackoff the one used when we leave the topic.
	PruneBackoff, UnsubscribeBackoff time.Duration
	// BackoffSlack is added to a backoff received in a PRUNE; a GRAFT
	// arriving within 2·BackoffSlack of our backoff's end is tolerated (the
	// peer may graft at the exact instant it is allowed to).
	BackoffSlack time.Duration
	// MaxRemoteBackoff clamps the backoff a peer may ask for (1 day; rust's
	// overflow CVEs GHSA-gc42-3jg7-rxr2).
	MaxRemoteBackoff time.Duration
	// GraftFloodThreshold: a GRAFT within this time of our PRUNE is penalised twice.
	GraftFloodThreshold time.Duration

	// OpportunisticGraftTicks is how many heartbeats separate opportunistic
	// grafting rounds; OpportunisticGraftPeers how many peers each round grafts.
	OpportunisticGraftTicks, OpportunisticGraftPeers int

	// FloodPublish sends our own messages to every topic peer scoring at or
	// above the publish threshold, not only to the mesh.
	FloodPublish bool

	// EnablePX sends peer exchange in our PRUNEs and accepts it from peers at
	// or above the accept-PX threshold; PrunePeers caps both directions.
	EnablePX   bool
	PrunePeers int

	// MaxIHaveLength caps the ids advertised in one IHAVE.
	MaxIHaveLength int
	// GossipRetransmission caps how often one id is served to one peer via IWANT.
	GossipRetransmission int
	// MaxIWantInvalid: after this many IWANT ids we never advertised to the
	// peer, the rest of its IWANT is ignored.
	MaxIWantInvalid int
	// IWantFollowupTime is how long a peer has to deliver a message it
	// advertised and we asked for before the promise counts as broken (P7).
	IWantFollowupTime time.Duration

	// IDontWantMaxPerHeartbeat caps the ids accepted from one peer per
	// heartbeat window; beyond it ids are dropped and counted. Windows are kept
	// for HistoryLength heartbeats.
	IDontWantMaxPerHeartbeat int
	// IDontWantMinSize: a received message with at least this many data bytes
	// makes us send IDONTWANT to the mesh before validating it.
	IDontWantMinSize int

	// DirectPeers are the configured direct peers (the router's
	// Config.DirectPeers): AddPeer marks them Direct whatever the adapter
	// passes, so they are never grafted, always sent our messages, and
	// penalised if they GRAFT. Read once by NewTopic.
	DirectPeers []peer.ID

	// Behaviour penalties (P7 increments) the Topic asks the router to apply.
	PenaltyGraftDirect, PenaltyGraftBackoff, PenaltyGraftFlood, PenaltyBrokenPromise float64

	// Thresholds are the score thresholds (gossip, publish, accept-PX, opportunistic graft).
	Thresholds score.Thresholds
	// Score is this topic's P1–P4 parameters; ScoreDecayInterval and
	// ScoreDecayToZero drive the decay of the counters kept here.
	Score              score.TopicParams
	ScoreDecayInterval time.Duration
	ScoreDecayToZero   float64

	// MaxPeers bounds the peers tracked in the topic (subscribed peers and
	// recently departed ones whose score counters still matter). When full a
	// departed peer's counters are forgotten first; otherwise AddPeer is
	// refused and counted in Stats.PeersRejected.
	MaxPeers int
	// MaxBackoff bounds the backoff table; when full a new backoff replaces
	// the one expiring soonest (counted in Stats.BackoffEvicted).
	MaxBackoff int
	// MaxSeenBytes bounds the memory of the seen cache (ids plus about
	// 140 B of bookkeeping each). The cache holds every id for SeenTTL
	// however fast they come; only when this bound bites is the oldest
	// entry evicted early (Stats.SeenEvicted,
	// libp2p_gossipsub_topic_drops_total{reason="seen_evicted"}), which may
	// let a late duplicate through. The default, 64 MiB, holds two minutes
	// of about 3,200 msg/s of 32-byte ids.
	MaxSeenBytes int
	// MaxCachedMessages bounds the message cache; when full a new message is
	// forwarded but not cached (Stats.CacheDropped), so it cannot be served by IWANT.
	MaxCachedMessages int
	// MaxPendingValidations bounds messages waiting for validation; when full
	// a new message is dropped unvalidated (Stats.ValidationDropped).
	MaxPendingValidations int
	// MaxPromises bounds outstanding IWANT promises; when full no further
	// ids are requested (Stats.PromisesDropped).
	MaxPromises int
	// MaxMailbox bounds the received messages and IHAVE/IWANT waiting in the
	// topic actor's mailbox: beyond it the newest such message is dropped
	// and counted (libp2p_gossipsub_topic_mailbox_drops_total{kind}; the
	// depth is libp2p_gossipsub_topic_mailbox_depth{topic}), and IWANT
	// promises broken meanwhile are forgiven. Membership, GRAFT/PRUNE, Ticks
	// and requests are never dropped (ADR 0012).
	MaxMailbox int
	// MaxDuplicateSources bounds the peers remembered per message as having
	// sent a copy (used for P3 credit and to skip them when forwarding).
	MaxDuplicateSources int
	// Admission holds our own publishes while the node's forwarding path
	// is congested (ADR 0030); a zero Quorum turns it off.
	Admission AdmissionConfig
}

// DefaultConfig returns the defaults of a profile. An unknown profile gets ProfileWaku.
func DefaultConfig(p Profile) Config {
	c := Config{
		D: 6, Dlo: 4, Dhi: 8, Dscore: 6, Dout: 3, Dlazy: 6,
		GossipFactor:  0.25,
		HistoryLength: 6, HistoryGossip: 3,
		FanoutTTL:                60 * time.Second,
		SeenTTL:                  2 * time.Minute,
		PruneBackoff:             time.Minute,
		UnsubscribeBackoff:       5 * time.Second,
		BackoffSlack:             2 * time.Second,
		MaxRemoteBackoff:         24 * time.Hour,
		GraftFloodThreshold:      10 * time.Second,
		OpportunisticGraftTicks:  60,
		OpportunisticGraftPeers:  2,
		FloodPublish:             true,
		EnablePX:                 false,
		PrunePeers:               16,
		MaxIHaveLength:           5000,
		GossipRetransmission:     1,
		MaxIWantInvalid:          20,
		IWantFollowupTime:        3 * time.Second,
		IDontWantMaxPerHeartbeat: 1000,
		IDontWantMinSize:         1024,
		PenaltyGraftDirect:       0.1, // the seed's behaviourPenalty += 0.1
		PenaltyGraftBackoff:      0.1,
		PenaltyGraftFlood:        1,
		PenaltyBrokenPromise:     1,
		Thresholds:               score.DefaultWakuThresholds(),
		Score:                    score.DefaultWakuTopicParams(),
		ScoreDecayInterval:       12 * time.Second,
		ScoreDecayToZero:         0.01,
		MaxPeers:                 1024,
		MaxBackoff:               4096,
		MaxSeenBytes:             64 << 20,
		MaxCachedMessages:        20_000,
		MaxPendingValidations:    1024,
		MaxPromises:              10_000,
		MaxDuplicateSources:      8,
		MaxMailbox:               8192,
		Admission:                DefaultAdmission(),
	}
	if p == ProfileLibp2p {
		c.Dlo, c.Dhi, c.Dscore, c.Dout = 5, 12, 4, 2
		c.HistoryLength = 5
		c.UnsubscribeBackoff = 10 * time.Second
		c.GossipRetransmission = 3
		c.Thresholds = score.DefaultLibp2pThresholds()
		c.Score = score.DefaultLibp2pTopicParams()
		c.ScoreDecayInterval = time.Second
		c.ScoreDecayToZero = 0.1
	}
	return c
}

// Validate checks the parameters; errors name the parameter.
func (c Config) Validate() error {
	var errs []error
	bad := func(name string, v any, why string) { errs = append(errs, fmt.Errorf("%s = %v: %s", name, v, why)) }
	pos := func(name string, v int) {
		if v <= 0 {
			bad(name, v, "must be > 0")
		}
	}
	posDur := func(name string, v time.Duration) {
		if v <= 0 {
			bad(name, v, "must be > 0")
		}
	}
	pos("D", c.D)
	if c.Dlo < 0 || c.Dlo > c.D {
		bad("Dlo", c.Dlo, "must be in [0, D]")
	}
	if c.Dhi < c.D {
		bad("Dhi", c.Dhi, "must be ≥ D")
	}
	if c.Dscore < 0 || c.Dscore > c.Dhi {
		bad("Dscore", c.Dscore, "must be in [0, Dhi]")
	}
	// The spec asks Dout < Dlo and Dout ≤ D/2 (waku's D=6, Dout=3 is allowed).
	if c.Dout < 0 || (c.Dout >= c.Dlo && c.Dout > 0) || c.Dout > c.D/2 {
		bad("Dout", c.Dout, "must be in [0, min(Dlo-1, D/2)]")
	}
	if c.Dlazy < 0 {
		bad("Dlazy", c.Dlazy, "must be ≥ 0")
	}
	if !(c.GossipFactor >= 0 && c.GossipFactor <= 1) {
		bad("GossipFactor", c.GossipFactor, "must be in [0, 1]")
	}
	pos("HistoryLength", c.HistoryLength)
	if c.HistoryGossip <= 0 || c.HistoryGossip > c.HistoryLength {
		bad("HistoryGossip", c.HistoryGossip, "must be in [1, HistoryLength]")
	}
	posDur("FanoutTTL", c.FanoutTTL)
	posDur("SeenTTL", c.SeenTTL)
	posDur("PruneBackoff", c.PruneBackoff)
	posDur("UnsubscribeBackoff", c.UnsubscribeBackoff)
	if c.BackoffSlack < 0 {
		bad("BackoffSlack", c.BackoffSlack, "must be ≥ 0")
	}
	if c.MaxRemoteBackoff < c.PruneBackoff {
		bad("MaxRemoteBackoff", c.MaxRemoteBackoff, "must be ≥ PruneBackoff")
	}
	if c.GraftFloodThreshold < 0 {
		bad("GraftFloodThreshold", c.GraftFloodThreshold, "must be ≥ 0")
	}
	pos("OpportunisticGraftTicks", c.OpportunisticGraftTicks)
	if c.OpportunisticGraftPeers < 0 {
		bad("OpportunisticGraftPeers", c.OpportunisticGraftPeers, "must be ≥ 0")
	}
	if c.PrunePeers < 0 {
		bad("PrunePeers", c.PrunePeers, "must be ≥ 0")
	}
	pos("MaxIHaveLength", c.MaxIHaveLength)
	pos("GossipRetransmission", c.GossipRetransmission)
	if c.MaxIWantInvalid < 0 {
		bad("MaxIWantInvalid", c.MaxIWantInvalid, "must be ≥ 0")
	}
	posDur("IWantFollowupTime", c.IWantFollowupTime)
	pos("IDontWantMaxPerHeartbeat", c.IDontWantMaxPerHeartbeat)
	if c.IDontWantMinSize < 0 {
		bad("IDontWantMinSize", c.IDontWantMinSize, "must be ≥ 0")
	}
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"PenaltyGraftDirect", c.PenaltyGraftDirect}, {"PenaltyGraftBackoff", c.PenaltyGraftBackoff},
		{"PenaltyGraftFlood", c.PenaltyGraftFlood}, {"PenaltyBrokenPromise", c.PenaltyBrokenPromise},
	} {
		if !(p.v >= 0) {
			bad(p.name, p.v, "must be ≥ 0 (it is added to P7, whose weight is negative)")
		}
	}
	if err := c.Thresholds.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Thresholds: %w", err))
	}
	if err := c.Score.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Score: %w", err))
	}
	posDur("ScoreDecayInterval", c.ScoreDecayInterval)
	if !(c.ScoreDecayToZero > 0 && c.ScoreDecayToZero < 1) {
		bad("ScoreDecayToZero", c.ScoreDecayToZero, "must be in (0, 1)")
	}
	pos("MaxPeers", c.MaxPeers)
	pos("MaxBackoff", c.MaxBackoff)
	pos("MaxSeenBytes", c.MaxSeenBytes)
	pos("MaxCachedMessages", c.MaxCachedMessages)
	pos("MaxPendingValidations", c.MaxPendingValidations)
	pos("MaxPromises", c.MaxPromises)
	pos("MaxMailbox", c.MaxMailbox)
	if c.MaxDuplicateSources < 0 {
		bad("MaxDuplicateSources", c.MaxDuplicateSources, "must be ≥ 0")
	}
	if err := c.Admission.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// WithScoreParams returns a copy of c whose P1–P4 parameters and decay come
// from the router's score parameters for topic, so that the counters kept
// here decay and cap exactly as the router weighs them. A topic without
// parameters keeps c.Score.
func (c Config) WithScoreParams(p score.Params, topic string) Config {
	if tp, ok := p.Topics[topic]; ok {
		c.Score = tp
	}
	c.ScoreDecayInterval = p.DecayInterval
	c.ScoreDecayToZero = p.DecayToZero
	return c
}

// WithThresholds returns a copy of c with the router's score thresholds.
func (c Config) WithThresholds(th score.Thresholds) Config {
	c.Thresholds = th
	return c
}
