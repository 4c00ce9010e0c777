package wire

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// TestJSFixtures decodes streams recorded from js-libp2p gossipsub 14.1.2
// (internal/interop TestWireAgainstJS with PEERMESH_INTEROP_RECORD): a hello
// with the js peer's subscription, then one published message. They are
// another implementation's bytes, so they check our decoder and verifier
// against an encoder we did not write, without starting node.
func TestJSFixtures(t *testing.T) {
	const topic = "/peermesh/interop/1"
	tests := []struct {
		file    string
		policy  SignaturePolicy
		data    string
		keyType pb.KeyType // key field on the wire (js always sends it when signing)
	}{
		{"testdata/js_libp2p-ed25519.bin", StrictSign, "hello from js libp2p-ed25519", pb.KeyType_Ed25519},
		{"testdata/js_libp2p-rsa.bin", StrictSign, "hello from js libp2p-rsa", pb.KeyType_RSA},
		{"testdata/js_waku.bin", StrictNoSign, "hello from js waku", -1},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			stream, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(bytes.NewReader(stream), 0)
			var rpcs []*gossipsubv1.RPC
			for {
				frame, err := r.ReadFrame()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				rpc := new(gossipsubv1.RPC)
				if err := DecodeRPC(frame, rpc, DefaultLimits()); err != nil {
					t.Fatal(err)
				}
				// Our encoder writes exactly the bytes js wrote.
				if again := mustFrame(t, rpc); !bytes.HasSuffix(again, frame) || len(again)-len(frame) > 3 {
					t.Errorf("re-encoded frame differs:\n js %x\nour %x", frame, again)
				}
				rpcs = append(rpcs, rpc)
			}
			if len(rpcs) != 2 {
				t.Fatalf("%d RPCs, want hello + message", len(rpcs))
			}
			assertRPC(t, rpcs[0], &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{sub(topic, true)}})
			if len(rpcs[1].Publish) != 1 {
				t.Fatalf("second RPC %v, want one message", rpcs[1])
			}
			msg := rpcs[1].Publish[0]
			if string(msg.Data) != tc.data || msg.GetTopic() != topic {
				t.Fatalf("message %q on %q, want %q on %q", msg.Data, msg.GetTopic(), tc.data, topic)
			}
			if err := CheckPolicy(tc.policy, msg); err != nil {
				t.Fatalf("CheckPolicy(%s): %v", tc.policy, err)
			}
			if tc.policy == StrictNoSign {
				return
			}
			pub, err := crypto.UnmarshalPublicKey(msg.Key)
			if err != nil || pub.Type() != tc.keyType {
				t.Fatalf("key field: %v, %v; want a %v key", pub, err, tc.keyType)
			}
			from, err := peer.IDFromBytes(msg.From)
			if err != nil || !from.MatchesPublicKey(pub) {
				t.Fatalf("from %x does not match the key: %v", msg.From, err)
			}
			// Tampering with the recorded message breaks verification.
			msg.Data = append(msg.Data, '!')
			if err := CheckPolicy(tc.policy, msg); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered js message: got %v, want ErrBadSignature", err)
			}
		})
	}
}
