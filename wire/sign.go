package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protowire"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// SignPrefix is prepended to the encoded message before signing, the same in
// go, rust, nim and js.
const SignPrefix = "libp2p-pubsub:"

// SeqnoLen is the length of a StrictSign seqno: a big-endian uint64.
const SeqnoLen = 8

// SignaturePolicy is how messages are authored and checked.
type SignaturePolicy int

const (
	// StrictSign: from, an 8-byte seqno and a valid signature are required.
	StrictSign SignaturePolicy = iota + 1
	// StrictNoSign: from, seqno, signature and key must all be absent (Waku).
	StrictNoSign
)

// String returns "StrictSign" or "StrictNoSign".
func (p SignaturePolicy) String() string {
	switch p {
	case StrictSign:
		return "StrictSign"
	case StrictNoSign:
		return "StrictNoSign"
	}
	return fmt.Sprintf("SignaturePolicy(%d)", int(p))
}

// Errors of signing and policy checks; returned errors wrap one of them with
// context. A message failing any of them is invalid (P4 in the peer score).
var (
	ErrMissingFrom        = errors.New("wire: message has no from")
	ErrInvalidPeerID      = errors.New("wire: message from is not a valid peer id")
	ErrInvalidSeqno       = errors.New("wire: message seqno missing or not 8 bytes")
	ErrMissingSignature   = errors.New("wire: message has no signature")
	ErrMissingKey         = errors.New("wire: message has no key and its peer id does not inline one")
	ErrInvalidKey         = errors.New("wire: message key is not a valid public key")
	ErrKeyMismatch        = errors.New("wire: message key does not match its from peer id")
	ErrBadSignature       = errors.New("wire: message signature does not verify")
	ErrUnexpectedAuthInfo = errors.New("wire: StrictNoSign message carries author fields")
	ErrUnknownPolicy      = errors.New("wire: unknown signature policy")
)

// SeqnoSource hands out increasing sequence numbers. It is safe for
// concurrent use. Seed it with a caller-chosen start (go uses the wall clock
// in nanoseconds so that restarts do not reuse seqnos; tests use a constant).
type SeqnoSource struct {
	next atomic.Uint64
}

// NewSeqnoSource returns a source whose first Next is start.
func NewSeqnoSource(start uint64) *SeqnoSource {
	s := &SeqnoSource{}
	s.next.Store(start)
	return s
}

// Next returns the next sequence number.
func (s *SeqnoSource) Next() uint64 { return s.next.Add(1) - 1 }

// Signer authors StrictSign messages for one private key. It is safe for
// concurrent use if its SeqnoSource is (the default one is).
type Signer struct {
	priv crypto.PrivKey
	id   peer.ID
	from []byte
	key  []byte // nil when the peer id inlines the public key
	seq  *SeqnoSource
}

// NewSigner returns a Signer for priv drawing seqnos from seq.
func NewSigner(priv crypto.PrivKey, seq *SeqnoSource) (*Signer, error) {
	if priv == nil || seq == nil {
		return nil, errors.New("wire: new signer: nil private key or seqno source")
	}
	pub := priv.GetPublic()
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("wire: new signer: peer id: %w", err)
	}
	s := &Signer{priv: priv, id: id, from: []byte(id), seq: seq}
	if _, err := id.ExtractPublicKey(); err != nil {
		// RSA and other large keys are hashed into the id: ship the key.
		if s.key, err = crypto.MarshalPublicKey(pub); err != nil {
			return nil, fmt.Errorf("wire: new signer: marshal public key: %w", err)
		}
	}
	return s, nil
}

// ID returns the signer's peer id.
func (s *Signer) ID() peer.ID { return s.id }

// Sign sets from, the next seqno, signature and (if needed) key on msg. Data
// and topic must already be set; any previous author fields are replaced.
func (s *Signer) Sign(msg *gossipsubv1.Message) error {
	msg.From = s.from
	msg.Seqno = binary.BigEndian.AppendUint64(make([]byte, 0, SeqnoLen), s.seq.Next())
	msg.Signature, msg.Key = nil, nil
	sig, err := s.priv.Sign(signedBytes(msg))
	if err != nil {
		return fmt.Errorf("wire: sign message: %w", err)
	}
	msg.Signature, msg.Key = sig, s.key
	return nil
}

// signedBytes returns SignPrefix || protobuf(msg without signature and key).
// It encodes fields 1-4 and the unknown fields directly, in the order
// proto.Marshal uses, so that msg is neither copied nor mutated (verification
// runs concurrently with readers of the message).
func signedBytes(msg *gossipsubv1.Message) []byte {
	unknown := msg.ProtoReflect().GetUnknown()
	size := len(SignPrefix) + len(unknown)
	for _, f := range [][]byte{msg.From, msg.Data, msg.Seqno} {
		if f != nil {
			size += 1 + protowire.SizeBytes(len(f))
		}
	}
	if msg.Topic != nil {
		size += 1 + protowire.SizeBytes(len(*msg.Topic))
	}
	b := make([]byte, 0, size)
	b = append(b, SignPrefix...)
	b = appendBytesField(b, 1, msg.From)
	b = appendBytesField(b, 2, msg.Data)
	b = appendBytesField(b, 3, msg.Seqno)
	if msg.Topic != nil {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, *msg.Topic)
	}
	return append(b, unknown...)
}

// appendBytesField appends a proto2 optional bytes field if present (non-nil).
func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// VerifySignature checks msg's signature against the public key of its from
// peer id, taken from the id itself or from the key field (which must then
// hash to from).
func VerifySignature(msg *gossipsubv1.Message) error {
	if msg.Signature == nil {
		return ErrMissingSignature
	}
	if msg.From == nil {
		return ErrMissingFrom
	}
	from, err := peer.IDFromBytes(msg.From)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPeerID, err)
	}
	var pub crypto.PubKey
	if msg.Key != nil {
		if pub, err = crypto.UnmarshalPublicKey(msg.Key); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		if !from.MatchesPublicKey(pub) {
			return fmt.Errorf("%w: from %s", ErrKeyMismatch, from)
		}
	} else if pub, err = from.ExtractPublicKey(); err != nil {
		return fmt.Errorf("%w: from %s: %w", ErrMissingKey, from, err)
	}
	ok, err := pub.Verify(signedBytes(msg), msg.Signature)
	if err != nil {
		return fmt.Errorf("%w: from %s: %w", ErrBadSignature, from, err)
	}
	if !ok {
		return fmt.Errorf("%w: from %s", ErrBadSignature, from)
	}
	return nil
}

// CheckFields is CheckPolicy without the signature verification: for
// StrictSign that from is a peer id, the seqno has 8 bytes and a signature
// is present; for StrictNoSign the same as CheckPolicy. A router checks the
// fields of every received copy (cheap, and from||seqno ids need them) and
// verifies the signature with VerifySignature only for a message id it has
// not seen: about one copy in seven under a D = 6 mesh, and Ed25519
// verification is the most expensive step of receiving a signed message.
func CheckFields(policy SignaturePolicy, msg *gossipsubv1.Message) error {
	if policy != StrictSign {
		return CheckPolicy(policy, msg)
	}
	if msg.From == nil {
		return ErrMissingFrom
	}
	if len(msg.Seqno) != SeqnoLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidSeqno, len(msg.Seqno))
	}
	if msg.Signature == nil {
		return ErrMissingSignature
	}
	if _, err := peer.IDFromBytes(msg.From); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPeerID, err)
	}
	return nil
}

// CheckPolicy checks msg against policy: for StrictSign that from, an 8-byte
// seqno and a valid signature are present; for StrictNoSign that none of
// from, seqno, signature and key is present (present but empty counts as
// present, as in the spec: the fields "MUST be absent").
func CheckPolicy(policy SignaturePolicy, msg *gossipsubv1.Message) error {
	switch policy {
	case StrictSign:
		if msg.From == nil {
			return ErrMissingFrom
		}
		if len(msg.Seqno) != SeqnoLen {
			return fmt.Errorf("%w: %d bytes", ErrInvalidSeqno, len(msg.Seqno))
		}
		return VerifySignature(msg)
	case StrictNoSign:
		for _, f := range []struct {
			name string
			v    []byte
		}{{"from", msg.From}, {"seqno", msg.Seqno}, {"signature", msg.Signature}, {"key", msg.Key}} {
			if f.v != nil {
				return fmt.Errorf("%w: %s present", ErrUnexpectedAuthInfo, f.name)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: %d", ErrUnknownPolicy, int(policy))
}
