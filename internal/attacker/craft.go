package attacker

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// The builders below are pure: they return the RPCs (or raw bytes) an attack
// sends, so a test can look at what it sends as well as at what comes back.

// SubscribeRPC announces (sub) or withdraws subscriptions to topics.
func SubscribeRPC(sub bool, topics ...string) *gossipsubv1.RPC {
	rpc := &gossipsubv1.RPC{}
	for _, t := range topics {
		rpc.Subscriptions = append(rpc.Subscriptions, &gossipsubv1.SubOpts{Subscribe: proto.Bool(sub), Topicid: proto.String(t)})
	}
	return rpc
}

// GraftRPC asks to join the mesh of each topic.
func GraftRPC(topics ...string) *gossipsubv1.RPC {
	ctrl := &gossipsubv1.ControlMessage{}
	for _, t := range topics {
		ctrl.Graft = append(ctrl.Graft, &gossipsubv1.ControlGraft{TopicID: proto.String(t)})
	}
	return &gossipsubv1.RPC{Control: ctrl}
}

// JoinRPC subscribes to and grafts topics in one RPC, the way an eager peer
// (or a sybil) announces itself.
func JoinRPC(topics ...string) *gossipsubv1.RPC {
	rpc := SubscribeRPC(true, topics...)
	rpc.Control = GraftRPC(topics...).Control
	return rpc
}

// PruneRPC leaves the mesh of topic, asking the target to back off for
// backoffSeconds (0: no backoff field, as a v1.0 peer sends it).
func PruneRPC(topic string, backoffSeconds uint64) *gossipsubv1.RPC {
	p := &gossipsubv1.ControlPrune{TopicID: proto.String(topic)}
	if backoffSeconds > 0 {
		p.Backoff = proto.Uint64(backoffSeconds)
	}
	return &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Prune: []*gossipsubv1.ControlPrune{p}}}
}

// BogusIDs returns n distinct message ids that no honest peer has: prefix
// followed by a big-endian counter starting at first. Distinct prefixes give
// distinct id spaces, so successive floods never repeat an id.
func BogusIDs(prefix string, first, n int) [][]byte {
	ids := make([][]byte, n)
	for i := range ids {
		id := make([]byte, len(prefix)+8)
		copy(id, prefix)
		binary.BigEndian.PutUint64(id[len(prefix):], uint64(first+i))
		ids[i] = id
	}
	return ids
}

// IHaveRPC advertises ids in topic, idsPerEntry ids per IHAVE entry (the last
// entry takes the rest).
func IHaveRPC(topic string, ids [][]byte, idsPerEntry int) *gossipsubv1.RPC {
	if idsPerEntry <= 0 {
		idsPerEntry = len(ids)
	}
	ctrl := &gossipsubv1.ControlMessage{}
	for len(ids) > 0 {
		k := min(idsPerEntry, len(ids))
		ctrl.Ihave = append(ctrl.Ihave, &gossipsubv1.ControlIHave{TopicID: proto.String(topic), MessageIDs: ids[:k]})
		ids = ids[k:]
	}
	return &gossipsubv1.RPC{Control: ctrl}
}

// IWantRPC asks for ids in one IWANT entry.
func IWantRPC(ids ...[]byte) *gossipsubv1.RPC {
	return &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: ids}}}}
}

// IDontWantRPC tells the target not to send ids.
func IDontWantRPC(ids ...[]byte) *gossipsubv1.RPC {
	return &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: ids}}}}
}

// PublishRPC carries msgs.
func PublishRPC(msgs ...*gossipsubv1.Message) *gossipsubv1.RPC {
	return &gossipsubv1.RPC{Publish: msgs}
}

// UnsignedMessage is a StrictNoSign (Waku) message: topic and data only.
func UnsignedMessage(topic string, data []byte) *gossipsubv1.Message {
	return &gossipsubv1.Message{Topic: proto.String(topic), Data: data}
}

// SignedMessage is a valid StrictSign message authored by s.
func SignedMessage(s *wire.Signer, topic string, data []byte) (*gossipsubv1.Message, error) {
	m := UnsignedMessage(topic, data)
	if err := s.Sign(m); err != nil {
		return nil, fmt.Errorf("attacker: sign: %w", err)
	}
	return m, nil
}

// InvalidSignatureMessage is a StrictSign message whose signature does not
// verify: signed by s, then one byte of the signature flipped. Its id
// (from||seqno) is fresh, so the target cannot dismiss it as a duplicate.
func InvalidSignatureMessage(s *wire.Signer, topic string, data []byte) (*gossipsubv1.Message, error) {
	m, err := SignedMessage(s, topic, data)
	if err != nil {
		return nil, err
	}
	sig := append([]byte(nil), m.Signature...)
	sig[len(sig)/2] ^= 0xff
	m.Signature = sig
	return m, nil
}

// ForbiddenField names the author field a StrictNoSign message must not carry.
type ForbiddenField int

const (
	FieldFrom ForbiddenField = iota + 1
	FieldSeqno
	FieldSignature
	FieldKey
	// FieldEmptyFrom: from present but empty ("MUST be absent", not empty).
	FieldEmptyFrom
)

// ForbiddenFields lists every ForbiddenField, for table tests.
var ForbiddenFields = []ForbiddenField{FieldFrom, FieldSeqno, FieldSignature, FieldKey, FieldEmptyFrom}

func (f ForbiddenField) String() string {
	switch f {
	case FieldFrom:
		return "from"
	case FieldSeqno:
		return "seqno"
	case FieldSignature:
		return "signature"
	case FieldKey:
		return "key"
	case FieldEmptyFrom:
		return "empty_from"
	}
	return fmt.Sprintf("ForbiddenField(%d)", int(f))
}

// ForbiddenFieldMessage is an otherwise valid StrictNoSign message carrying
// field f. Its data (and so its sha256 id) is the caller's, so each message
// of a flood can be fresh.
func ForbiddenFieldMessage(topic string, data []byte, f ForbiddenField) *gossipsubv1.Message {
	m := UnsignedMessage(topic, data)
	switch f {
	case FieldFrom:
		m.From = []byte("\x00\x24not-a-real-peer-id-but-present")
	case FieldSeqno:
		m.Seqno = []byte{0, 0, 0, 0, 0, 0, 0, 1}
	case FieldSignature:
		m.Signature = []byte("signature")
	case FieldKey:
		m.Key = []byte("key")
	case FieldEmptyFrom:
		m.From = []byte{}
	}
	return m
}

// OversizedPrefix is a frame header declaring declared bytes followed by a
// few bytes of body: a reader must reject it from the prefix alone, before
// allocating a buffer of the declared size.
func OversizedPrefix(declared uint64) []byte {
	return append(binary.AppendUvarint(nil, declared), 0x0a, 0x00)
}

// VarintOverflow is a length prefix of 11 continuation bytes, longer than any
// valid uvarint.
func VarintOverflow() []byte {
	b := make([]byte, 11)
	for i := range b {
		b[i] = 0xff
	}
	return b
}

// TruncatedFrame encodes rpc as a frame and drops its last cut bytes (at
// least one, at most the whole body), so the stream ends inside the body.
func TruncatedFrame(rpc *gossipsubv1.RPC, cut int) ([]byte, error) {
	f, err := wire.AppendFrame(nil, rpc)
	if err != nil {
		return nil, fmt.Errorf("attacker: encode frame: %w", err)
	}
	body := len(f) - len(binary.AppendUvarint(nil, uint64(len(f))))
	cut = max(1, min(cut, body))
	return f[:len(f)-cut], nil
}

// RandomFrames returns n well-framed bodies of random bytes (1..maxBody
// each, from rng). Most do not decode as an RPC; the few that happen to are
// harmless noise, as from a corrupted peer.
func RandomFrames(rng *rand.Rand, n, maxBody int) []byte {
	var out []byte
	for range n {
		body := make([]byte, 1+rng.IntN(maxBody))
		for i := range body {
			body[i] = byte(rng.UintN(256))
		}
		out = wire.AppendEncodedFrame(out, body)
	}
	return out
}

// GarbageFrame is one frame whose body is certainly not a protobuf RPC: a
// field tag with wire type 7, which does not exist.
func GarbageFrame() []byte {
	return wire.AppendEncodedFrame(nil, []byte{0x0f, 0xff, 0xff, 0xff})
}

// UnknownFieldsFrame encodes rpc as a frame and adds fields this version of
// the protocol does not define, as a newer peer would send them: on the RPC
// (field 100, a varint, and field 6492434, go-libp2p-pubsub's test
// extension), on its control message (field 6, the v1.3 extensions, and
// field 99), and on each message (field 50). A reader must skip them, and
// act on the rest of the RPC as if they were not there.
func UnknownFieldsFrame(rpc *gossipsubv1.RPC) ([]byte, error) {
	rest := proto.Clone(rpc).(*gossipsubv1.RPC)
	rest.Publish = nil // appended below, each with a field of its own
	body, err := proto.Marshal(rest)
	if err != nil {
		return nil, fmt.Errorf("attacker: encode rpc: %w", err)
	}
	body = protowire.AppendTag(body, 100, protowire.VarintType)
	body = protowire.AppendVarint(body, 7)
	body = protowire.AppendTag(body, 6492434, protowire.VarintType)
	body = protowire.AppendVarint(body, 1)
	// Fields of a nested message in a second occurrence of it are merged
	// into the first by every protobuf decoder.
	var ctrl []byte
	ctrl = protowire.AppendTag(ctrl, 6, protowire.BytesType)
	ctrl = protowire.AppendBytes(ctrl, nil)
	ctrl = protowire.AppendTag(ctrl, 99, protowire.BytesType)
	ctrl = protowire.AppendBytes(ctrl, []byte("future control"))
	body = protowire.AppendTag(body, 3, protowire.BytesType)
	body = protowire.AppendBytes(body, ctrl)
	for _, m := range rpc.GetPublish() {
		mb, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("attacker: encode message: %w", err)
		}
		mb = protowire.AppendTag(mb, 50, protowire.BytesType)
		mb = protowire.AppendBytes(mb, []byte("future message field"))
		body = protowire.AppendTag(body, 2, protowire.BytesType)
		body = protowire.AppendBytes(body, mb)
	}
	return wire.AppendEncodedFrame(nil, body), nil
}

// LongTopic is a topic name of n bytes.
func LongTopic(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return string(b)
}
