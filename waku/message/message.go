package message

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/sharding"
)

// MaxMetaSize is RFC 14's limit on WakuMessage.meta.
const MaxMetaSize = 64

// DefaultMaxMessageSize is nwaku's --max-msg-size default (150 KiB), the
// largest encoded WakuMessage relayed.
const DefaultMaxMessageSize = 150 << 10

// Outcome is what the relay does with a message that breaks a rule.
type Outcome int

const (
	// Reject drops the message and charges its sender an invalid message
	// (gossipsub P4).
	Reject Outcome = iota + 1
	// Ignore drops the message without a penalty.
	Ignore
)

func (o Outcome) String() string {
	switch o {
	case Reject:
		return "reject"
	case Ignore:
		return "ignore"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Rule names a WakuMessage rule; it is the label of the rejection metrics.
type Rule string

// The rules, in the order Validate checks them.
const (
	RuleSize         Rule = "size"
	RuleDecode       Rule = "decode"
	RuleContentTopic Rule = "content_topic"
	RuleMeta         Rule = "meta"
	RulePayload      Rule = "payload"
	RuleContentForm  Rule = "content_topic_form"
	RuleTimestamp    Rule = "timestamp"
)

// RuleError is a broken rule with the relay's outcome for it.
type RuleError struct {
	Rule    Rule
	Outcome Outcome
	Reason  string
}

func (e *RuleError) Error() string { return "invalid WakuMessage: " + e.Reason }

// Rules configures Validate.
type Rules struct {
	// MaxMessageSize bounds the encoded WakuMessage, bytes (nwaku's
	// --max-msg-size); 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxTimestampSkew, when positive, ignores messages whose timestamp is
	// set and further than this from now (The Waku Network's relays check
	// 20 s along with RLN). 0 — nwaku's and go-waku's behaviour without RLN —
	// checks no timestamp.
	MaxTimestampSkew time.Duration
}

// DefaultRules are nwaku's checks without RLN.
func DefaultRules() Rules { return Rules{MaxMessageSize: DefaultMaxMessageSize} }

func (r Rules) maxSize() int {
	if r.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return r.MaxMessageSize
}

func broken(rule Rule, o Outcome, format string, args ...any) *RuleError {
	return &RuleError{Rule: rule, Outcome: o, Reason: fmt.Sprintf(format, args...)}
}

// Decode parses pubsub data as a WakuMessage and validates it. now is the
// caller's clock reading, used only by the timestamp rule.
func (r Rules) Decode(data []byte, now time.Time) (*wakuv1.WakuMessage, error) {
	if len(data) > r.maxSize() {
		return nil, broken(RuleSize, Reject, "%d bytes, more than the network's maximum of %d", len(data), r.maxSize())
	}
	var m wakuv1.WakuMessage
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, broken(RuleDecode, Reject, "not a WakuMessage: %v", err)
	}
	if err := r.check(&m, now); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks a decoded message, including its encoded size.
func (r Rules) Validate(m *wakuv1.WakuMessage, now time.Time) error {
	if n := proto.Size(m); n > r.maxSize() {
		return broken(RuleSize, Reject, "%d bytes encoded, more than the network's maximum of %d", n, r.maxSize())
	}
	if err := r.check(m, now); err != nil {
		return err
	}
	return nil
}

func (r Rules) check(m *wakuv1.WakuMessage, now time.Time) *RuleError {
	if m.GetContentTopic() == "" {
		return broken(RuleContentTopic, Reject, "contentTopic is empty")
	}
	if len(m.GetMeta()) > MaxMetaSize {
		return broken(RuleMeta, Reject, "meta is %d bytes, at most %d", len(m.GetMeta()), MaxMetaSize)
	}
	if len(m.GetPayload()) == 0 {
		return broken(RulePayload, Ignore, "payload is empty")
	}
	if _, err := sharding.ParseContentTopic(m.GetContentTopic()); err != nil {
		return broken(RuleContentForm, Ignore, "%v", err)
	}
	if r.MaxTimestampSkew > 0 && m.GetTimestamp() != 0 {
		ts := time.Unix(0, m.GetTimestamp())
		if d := ts.Sub(now); d > r.MaxTimestampSkew || d < -r.MaxTimestampSkew {
			return broken(RuleTimestamp, Ignore, "timestamp %s is %s from now, more than %s", ts.UTC().Format(time.RFC3339Nano), d.Round(time.Millisecond), r.MaxTimestampSkew)
		}
	}
	return nil
}

// Hash is RFC 14's deterministic message hash of m published on
// pubsubTopic.
type Hash [sha256.Size]byte

// String is the hash as 0x-prefixed hex, as nwaku and go-waku print it.
func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// HashOf computes sha256(pubsubTopic ‖ payload ‖ contentTopic ‖ meta ‖
// timestamp as 8 big-endian bytes). version, ephemeral and the RLN proof
// are not hashed.
func HashOf(pubsubTopic string, m *wakuv1.WakuMessage) Hash {
	h := sha256.New()
	h.Write([]byte(pubsubTopic))
	h.Write(m.GetPayload())
	h.Write([]byte(m.GetContentTopic()))
	h.Write(m.GetMeta())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(m.GetTimestamp()))
	h.Write(ts[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// HashData decodes pubsub data as a WakuMessage and hashes it; ok is false
// when the data is not a WakuMessage.
func HashData(pubsubTopic string, data []byte) (Hash, bool) {
	var m wakuv1.WakuMessage
	if err := proto.Unmarshal(data, &m); err != nil {
		return Hash{}, false
	}
	return HashOf(pubsubTopic, &m), true
}
