package mesh

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"log/slog"
	"math/rand/v2"
	"time"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Deps are what the topic actor needs besides its Config.
type Deps struct {
	// Topic is the topic name (the actor's identity, not a tunable).
	Topic string
	// Rand feeds the core's randomness (mesh and gossip peer selection,
	// IWANT order, PX samples). nil seeds one from crypto/rand: every node
	// must choose independently and unpredictably (ADR 0031); a test that
	// needs a reproducible actor passes a seeded one.
	Rand *rand.Rand
	// ValidationTimeout bounds a registered validator's answer; after it the
	// message is treated as IGNORE. Zero means DefaultValidationTimeout.
	ValidationTimeout time.Duration
	// Clock is the actor's monotonic reading, which advances its
	// heartbeat-domain clock between Ticks (see tickClock); nil means
	// time.Now. It is never used as a timestamp by itself.
	Clock func() time.Time
	// Now is the router's last Tick's now, the clock's start (zero: Clock()).
	Now time.Time
	// HeartbeatInterval caps how far the clock advances between Ticks
	// (zero: 1 s).
	HeartbeatInterval time.Duration
	// Backoffs are the topic's backoffs the router kept since its previous
	// actor stopped (peer → until, heartbeat clock); restored at start.
	Backoffs map[peer.ID]time.Time
	// Verify checks a received message's signature; nil for a profile that
	// does not sign. The topic actor calls it only for ids it has not seen,
	// before HandleMessage marks them seen (a forged copy arriving first
	// must not censor the genuine one), so each message is verified once
	// instead of once per copy (see wire.CheckFields).
	Verify func(*gossipsubv1.Message) error
	// Validate, when set, is the profile's synchronous message check (the
	// waku profile's WakuMessage rules), run on every new message before
	// the registered validator actor: a result other than ValidationAccept
	// decides the message at once (Reject charges P4), and label names the
	// outcome in libp2p_gossipsub_validation_results_total. now is the actor's
	// heartbeat-domain clock (ADR 0012). It must be safe to call from the topic actor (pure, or
	// counting on concurrency-safe metrics).
	Validate func(msg *gossipsubv1.Message, now time.Time) (res ValidationResult, label string)
	// Known, when set, is the node's KnownIDs: the actor adds every id it
	// marks seen on receipt, so that the readers drop the bodies of later
	// copies (ADR 0027). Not used when Config.SeenTTL is under 4 of its
	// windows.
	Known *KnownIDs
	// Refused counts a received message refused by Verify, by reason, on
	// the router's inbound-drop counter (nil: not counted).
	Refused func(reason string, n int)
	// PeerRecord returns the signed peer record (a marshalled libp2p
	// envelope) we hold for a peer, or nil; PRUNE peer exchange attaches it
	// so the receiver can dial without trusting us (spec v1.1). It reads the
	// host's certified address book, which is safe for concurrent use; nil
	// sends peer ids only.
	PeerRecord func(peer.ID) []byte
	Metrics    *Metrics
	Logger     *slog.Logger
}

// DefaultValidationTimeout is how long a validator actor may take.
const DefaultValidationTimeout = 2 * time.Second
