package wire

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Frame size limits.
const (
	// MaxFrameDefault is go-libp2p-pubsub's and nim-libp2p's limit for a whole
	// RPC frame; peermesh uses it for the libp2p profile.
	MaxFrameDefault = 1 << 20
	// MaxFrameWaku is the frame limit nwaku and go-waku run with (a
	// WakuMessage of at most 150 KiB).
	MaxFrameWaku = 150 << 10
)

// Limits bound how many entries of each repeated field one decoded RPC may
// hold. They are checked by a scan of the encoded bytes before any entry is
// allocated, and an RPC over any limit is rejected whole with a *LimitError
// (never silently truncated: a truncated IHAVE or subscription list would be
// indistinguishable from an honest short one, and the caller wants to
// penalise the sender).
//
// A zero field means "use the default"; a negative field means unlimited.
type Limits struct {
	// MaxSubscriptions bounds RPC.subscriptions. Default 1024 (nim's
	// topicsHigh); a hello RPC carries every topic the peer is in.
	MaxSubscriptions int
	// MaxMessages bounds RPC.publish. Default 5000: rust refuses more than
	// 500, but go-libp2p-pubsub and nim set no count limit (only the frame
	// size) and we must accept what honest peers send; 5000 decoded messages
	// cost well under 1 MiB of structs.
	MaxMessages int
	// MaxControlEntries bounds the number of IHAVE, IWANT, GRAFT, PRUNE and
	// IDONTWANT entries together. Default 2048 (one of each per topic for a
	// peer at the subscription limit, with slack).
	MaxControlEntries int
	// MaxControlIDs bounds the message ids in all IHAVE, IWANT and IDONTWANT
	// entries together. Default 20000: go and nim ask for at most 5000 ids
	// per peer per heartbeat and advertise up to 5000 per IHAVE, so a few
	// topics' worth of honest gossip fits, while a 1 MiB frame of 100,000
	// one-byte ids does not.
	MaxControlIDs int
	// MaxPrunePeers bounds the PX PeerInfo entries of all PRUNEs together.
	// Default 256 (go sends at most 16 per PRUNE).
	MaxPrunePeers int
}

// DefaultLimits returns the limits described on each field of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxSubscriptions:  1024,
		MaxMessages:       5000,
		MaxControlEntries: 2048,
		MaxControlIDs:     20000,
		MaxPrunePeers:     256,
	}
}

// normalized replaces zero fields by their defaults.
func (l Limits) normalized() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return Limits{
		MaxSubscriptions:  pick(l.MaxSubscriptions, d.MaxSubscriptions),
		MaxMessages:       pick(l.MaxMessages, d.MaxMessages),
		MaxControlEntries: pick(l.MaxControlEntries, d.MaxControlEntries),
		MaxControlIDs:     pick(l.MaxControlIDs, d.MaxControlIDs),
		MaxPrunePeers:     pick(l.MaxPrunePeers, d.MaxPrunePeers),
	}
}

// DecodeRPC decodes one frame body (without its length prefix) into dst,
// which is reset first. It returns a *LimitError (matching ErrLimitExceeded)
// when the RPC exceeds lim, and an error matching ErrMalformed when b is not
// a valid RPC. The scan that enforces lim allocates nothing, so a hostile
// frame costs one pass over its bytes.
//
// The scan does not validate the inside of entries, so an RPC that is both
// over a limit and malformed may be reported as either.
//
// Decoded byte fields never alias b: the caller may reuse b afterwards.
func DecodeRPC(b []byte, dst *gossipsubv1.RPC, lim Limits) error {
	return decodeRPC(b, dst, lim.normalized(), nil, nil)
}

// decodeRPC is DecodeRPC with limits already normalized (the Reader
// normalizes once, not per frame).
func decodeRPC(b []byte, dst *gossipsubv1.RPC, lim Limits, topics *topicCache, filter *viewFilter) error {
	s, err := scanRPC(b, lim)
	if err != nil {
		return err
	}
	return unmarshalRPC(b, dst, &s, topics, filter)
}

// counter enforces one limit during the scan.
type counter struct {
	field string
	limit int
	n     int
}

func (c *counter) add() error {
	c.n++
	if c.limit >= 0 && c.n > c.limit {
		return &LimitError{Field: c.field, Limit: c.limit}
	}
	return nil
}

// rpcScan holds the counters of one scan.
type rpcScan struct {
	subs, msgs, entries, ids, peers counter
}

// scanRPC walks the RPC's fields without decoding them. Only length-delimited
// occurrences of the known repeated fields are counted; other wire types on
// those numbers are unknown fields to the protobuf decoder too.
func scanRPC(b []byte, lim Limits) (rpcScan, error) { // lim normalized
	s := rpcScan{
		subs:    counter{field: "subscriptions", limit: lim.MaxSubscriptions},
		msgs:    counter{field: "publish messages", limit: lim.MaxMessages},
		entries: counter{field: "control entries", limit: lim.MaxControlEntries},
		ids:     counter{field: "control message ids", limit: lim.MaxControlIDs},
		peers:   counter{field: "prune peers", limit: lim.MaxPrunePeers},
	}
	err := walk(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			return s.subs.add()
		case 2:
			return s.msgs.add()
		case 3:
			return walk(v, s.control)
		}
		return nil
	})
	return s, err
}

// control counts the entries of one ControlMessage.
func (s *rpcScan) control(num protowire.Number, v []byte) error {
	var idField protowire.Number
	switch num {
	case 1: // IHAVE: ids are field 2
		idField = 2
	case 2, 5: // IWANT, IDONTWANT: ids are field 1
		idField = 1
	case 3: // GRAFT
	case 4: // PRUNE: peers are field 2
		if err := s.entries.add(); err != nil {
			return err
		}
		return walk(v, func(n protowire.Number, _ []byte) error {
			if n == 2 {
				return s.peers.add()
			}
			return nil
		})
	default:
		return nil
	}
	if err := s.entries.add(); err != nil {
		return err
	}
	if idField == 0 {
		return nil
	}
	return walk(v, func(n protowire.Number, _ []byte) error {
		if n == idField {
			return s.ids.add()
		}
		return nil
	})
}

// walk calls fn for every length-delimited field of the message encoded in b
// and skips all others, failing like the protobuf decoder on bad structure.
func walk(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformed(fmt.Sprintf("scan field %d", num), protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return malformed(fmt.Sprintf("scan field %d", num), protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

// consumeTag is protowire.ConsumeTag that also refuses field numbers above
// 2^29-1, as the protobuf decoder does (protowire accepts up to 2^31-1).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, malformed("tag", protowire.ParseError(n))
	}
	if !num.IsValid() {
		return 0, 0, 0, malformed(fmt.Sprintf("field number %d out of range", num), nil)
	}
	return num, typ, n, nil
}
