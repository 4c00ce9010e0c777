package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// ed25519Key derives a deterministic Ed25519 key from one seed byte.
func ed25519Key(t testing.TB, seed byte) crypto.PrivKey {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

var rsaOnce = sync.OnceValues(func() (crypto.PrivKey, error) {
	b, err := os.ReadFile("testdata/rsa2048.key")
	if err != nil {
		return nil, err
	}
	return crypto.UnmarshalPrivateKey(b)
})

// rsaKey is a committed 2048-bit key: generating one per test run costs
// seconds under -race.
func rsaKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	priv, err := rsaOnce()
	if err != nil {
		t.Fatalf("load testdata/rsa2048.key: %v", err)
	}
	return priv
}

func newSigner(t testing.TB, priv crypto.PrivKey, start uint64) *Signer {
	t.Helper()
	s, err := NewSigner(priv, NewSeqnoSource(start))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signed(t testing.TB, s *Signer, data string) *gossipsubv1.Message {
	t.Helper()
	msg := &gossipsubv1.Message{Data: []byte(data), Topic: str("topic")}
	if err := s.Sign(msg); err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSignKeyTypes(t *testing.T) {
	secp, err := crypto.UnmarshalSecp256k1PrivateKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	ecdsa, _, err := crypto.GenerateECDSAKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		priv    crypto.PrivKey
		wantKey bool // key field present: public key not inlined in the peer id
	}{
		{"ed25519", ed25519Key(t, 1), false},
		{"secp256k1", secp, false},
		{"ecdsa", ecdsa, true},
		{"rsa", rsaKey(t), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSigner(t, tc.priv, 41)
			msg := signed(t, s, "hello")
			if !bytes.Equal(msg.From, []byte(s.ID())) {
				t.Errorf("from = %x, want peer id %x", msg.From, []byte(s.ID()))
			}
			if got := binary.BigEndian.Uint64(msg.Seqno); len(msg.Seqno) != 8 || got != 41 {
				t.Errorf("seqno = %x, want 8-byte 41", msg.Seqno)
			}
			if (msg.Key != nil) != tc.wantKey {
				t.Errorf("key present = %v, want %v", msg.Key != nil, tc.wantKey)
			}
			if err := CheckPolicy(StrictSign, msg); err != nil {
				t.Errorf("CheckPolicy(StrictSign) = %v", err)
			}
			if err := CheckPolicy(StrictNoSign, msg); !errors.Is(err, ErrUnexpectedAuthInfo) {
				t.Errorf("CheckPolicy(StrictNoSign) = %v, want ErrUnexpectedAuthInfo", err)
			}
			next := signed(t, s, "again")
			if binary.BigEndian.Uint64(next.Seqno) != 42 {
				t.Errorf("second seqno = %x, want 42", next.Seqno)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	ed := newSigner(t, ed25519Key(t, 1), 1)
	other := newSigner(t, ed25519Key(t, 2), 1)
	rsa := newSigner(t, rsaKey(t), 1)
	tests := []struct {
		name   string
		signer *Signer
		mutate func(m *gossipsubv1.Message)
		want   error
	}{
		{"data changed", ed, func(m *gossipsubv1.Message) { m.Data = []byte("evil") }, ErrBadSignature},
		{"topic changed", ed, func(m *gossipsubv1.Message) { m.Topic = str("other") }, ErrBadSignature},
		{"seqno changed", ed, func(m *gossipsubv1.Message) { m.Seqno[7]++ }, ErrBadSignature},
		{"unknown field added", ed, func(m *gossipsubv1.Message) {
			m.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
		}, ErrBadSignature},
		{"from of another peer", ed, func(m *gossipsubv1.Message) { m.From = []byte(other.ID()) }, ErrBadSignature},
		{"signature truncated", ed, func(m *gossipsubv1.Message) { m.Signature = m.Signature[:10] }, ErrBadSignature},
		{"no signature", ed, func(m *gossipsubv1.Message) { m.Signature = nil }, ErrMissingSignature},
		{"no from", ed, func(m *gossipsubv1.Message) { m.From = nil }, ErrMissingFrom},
		{"from not a peer id", ed, func(m *gossipsubv1.Message) { m.From = []byte{0xff, 0x01} }, ErrInvalidPeerID},
		{"seqno 7 bytes", ed, func(m *gossipsubv1.Message) { m.Seqno = m.Seqno[:7] }, ErrInvalidSeqno},
		{"seqno missing", ed, func(m *gossipsubv1.Message) { m.Seqno = nil }, ErrInvalidSeqno},
		{"rsa key stripped", rsa, func(m *gossipsubv1.Message) { m.Key = nil }, ErrMissingKey},
		{"key of another peer", rsa, func(m *gossipsubv1.Message) {
			k, _ := crypto.MarshalPublicKey(other.priv.GetPublic())
			m.Key = k
		}, ErrKeyMismatch},
		{"key garbage", rsa, func(m *gossipsubv1.Message) { m.Key = []byte{1, 2, 3} }, ErrInvalidKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := signed(t, tc.signer, "payload")
			tc.mutate(msg)
			if err := CheckPolicy(StrictSign, msg); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			// CheckFields refuses the same field errors and leaves the
			// signature and key to VerifySignature.
			var wantFields error
			for _, fieldErr := range []error{ErrMissingSignature, ErrMissingFrom, ErrInvalidPeerID, ErrInvalidSeqno} {
				if errors.Is(tc.want, fieldErr) {
					wantFields = fieldErr
				}
			}
			if err := CheckFields(StrictSign, msg); !errors.Is(err, wantFields) || (wantFields == nil) != (err == nil) {
				t.Fatalf("CheckFields = %v, want %v", err, wantFields)
			}
		})
	}
}

func TestCheckPolicyStrictNoSign(t *testing.T) {
	tests := []struct {
		name string
		msg  *gossipsubv1.Message
		want error
	}{
		{"anonymous", &gossipsubv1.Message{Data: []byte("x"), Topic: str("t")}, nil},
		{"from", &gossipsubv1.Message{From: []byte{1}}, ErrUnexpectedAuthInfo},
		{"seqno", &gossipsubv1.Message{Seqno: make([]byte, 8)}, ErrUnexpectedAuthInfo},
		{"signature", &gossipsubv1.Message{Signature: []byte{1}}, ErrUnexpectedAuthInfo},
		{"key", &gossipsubv1.Message{Key: []byte{1}}, ErrUnexpectedAuthInfo},
		// "MUST be absent", not merely empty.
		{"empty seqno present", &gossipsubv1.Message{Seqno: []byte{}}, ErrUnexpectedAuthInfo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckPolicy(StrictNoSign, tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := CheckPolicy(SignaturePolicy(9), &gossipsubv1.Message{}); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("unknown policy: got %v", err)
	}
}

// TestEmptyFieldSurvivesDecode: presence of an empty bytes field must survive
// a decode, or StrictNoSign would accept a message with an empty seqno.
func TestEmptyFieldSurvivesDecode(t *testing.T) {
	b, err := proto.Marshal(&gossipsubv1.Message{Seqno: []byte{}, Topic: str("t")})
	if err != nil {
		t.Fatal(err)
	}
	var m gossipsubv1.Message
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if err := CheckPolicy(StrictNoSign, &m); !errors.Is(err, ErrUnexpectedAuthInfo) {
		t.Fatalf("decoded empty seqno: got %v, want ErrUnexpectedAuthInfo", err)
	}
}

// TestSignedBytesMatchesMarshal: our direct encoding of the signed bytes is
// what proto.Marshal produces for the message with signature and key cleared,
// unknown fields included (what go and rust sign).
func TestSignedBytesMatchesMarshal(t *testing.T) {
	msg := signed(t, newSigner(t, rsaKey(t), 7), "data")
	msg.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 42, protowire.VarintType), 5))
	clone := proto.Clone(msg).(*gossipsubv1.Message)
	clone.Signature, clone.Key = nil, nil
	want, err := proto.Marshal(clone)
	if err != nil {
		t.Fatal(err)
	}
	want = append([]byte(SignPrefix), want...)
	if got := signedBytes(msg); !bytes.Equal(got, want) {
		t.Fatalf("signedBytes = %x\nwant          %x", got, want)
	}
}

// TestSignedFramesVerifyAfterWire: a message signed by us, framed by Writer
// and read back by Reader verifies, for an inlined (Ed25519) and a
// non-inlined (RSA) key; only the RSA message carries key.
func TestSignedFramesVerifyAfterWire(t *testing.T) {
	for _, tc := range []struct {
		name    string
		priv    crypto.PrivKey
		wantKey bool
	}{{"ed25519", ed25519Key(t, 3), false}, {"rsa", rsaKey(t), true}} {
		t.Run(tc.name, func(t *testing.T) {
			msg := signed(t, newSigner(t, tc.priv, 1000), "over the wire")
			var stream bytes.Buffer
			w := NewWriter(&stream, 0)
			if err := w.Write(&gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg}}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			var got gossipsubv1.RPC
			if err := NewReader(&stream, 0).ReadRPC(&got); err != nil {
				t.Fatal(err)
			}
			m := got.GetPublish()[0]
			if (m.Key != nil) != tc.wantKey {
				t.Fatalf("key present = %v, want %v", m.Key != nil, tc.wantKey)
			}
			if err := CheckPolicy(StrictSign, m); err != nil {
				t.Fatalf("verify after wire: %v", err)
			}
		})
	}
}

func TestNewSignerRejectsNil(t *testing.T) {
	if _, err := NewSigner(nil, NewSeqnoSource(0)); err == nil {
		t.Error("nil key accepted")
	}
	if _, err := NewSigner(ed25519Key(t, 1), nil); err == nil {
		t.Error("nil seqno source accepted")
	}
}

func TestSeqnoSourceConcurrent(t *testing.T) {
	s := NewSeqnoSource(100)
	var wg sync.WaitGroup
	seen := make([]uint64, 0, 400)
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for range 100 {
				v := s.Next()
				mu.Lock()
				seen = append(seen, v)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	set := map[uint64]bool{}
	for _, v := range seen {
		if v < 100 || v >= 500 || set[v] {
			t.Fatalf("seqno %d duplicated or out of [100,500)", v)
		}
		set[v] = true
	}
}
