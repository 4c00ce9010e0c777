package wire

import (
	"bytes"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/protocol"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

func TestProfiles(t *testing.T) {
	tests := []struct {
		profile  Profile
		name     string
		ids      []protocol.ID
		policy   SignaturePolicy
		maxFrame int
	}{
		{ProfileWaku, "waku", []protocol.ID{"/vac/waku/relay/2.0.0", "/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"}, StrictNoSign, 150 << 10},
		{ProfileLibp2p, "libp2p", []protocol.ID{"/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"}, StrictSign, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.profile.Protocols(); !slices.Equal(got, tc.ids) {
				t.Errorf("Protocols() = %v, want %v", got, tc.ids)
			}
			if got := tc.profile.SignaturePolicy(); got != tc.policy {
				t.Errorf("SignaturePolicy() = %v, want %v", got, tc.policy)
			}
			if got := tc.profile.MaxFrame(); got != tc.maxFrame {
				t.Errorf("MaxFrame() = %d, want %d", got, tc.maxFrame)
			}
			if got := tc.profile.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if p, err := ParseProfile(tc.name); err != nil || p != tc.profile {
				t.Errorf("ParseProfile(%q) = %v, %v", tc.name, p, err)
			}
		})
	}
	if _, err := ParseProfile("floodsub"); err == nil {
		t.Error("ParseProfile accepted an unknown profile")
	}
	// Protocols returns a fresh slice each time.
	a := ProfileWaku.Protocols()
	a[0] = "x"
	if ProfileWaku.Protocols()[0] != ProtocolWakuRelay {
		t.Error("Protocols() shares its backing array")
	}
}

func TestFeaturesOf(t *testing.T) {
	tests := []struct {
		id   protocol.ID
		want Features
	}{
		{"/vac/waku/relay/2.0.0", Features{Mesh: true, PX: true, Backoff: true, IDontWant: true}},
		{"/meshsub/1.2.0", Features{Mesh: true, PX: true, Backoff: true, IDontWant: true}},
		{"/meshsub/1.1.0", Features{Mesh: true, PX: true, Backoff: true}},
		{"/meshsub/1.0.0", Features{Mesh: true}},
		{"/floodsub/1.0.0", Features{}},
		{"/meshsub/1.3.0", Features{}}, // not implemented yet: never negotiated
	}
	for _, tc := range tests {
		if got := FeaturesOf(tc.id); got != tc.want {
			t.Errorf("FeaturesOf(%s) = %+v, want %+v", tc.id, got, tc.want)
		}
	}
}

func TestMsgIDFns(t *testing.T) {
	msg := &gossipsubv1.Message{From: []byte{0x00, 0x24}, Seqno: []byte{0, 0, 0, 0, 0, 0, 0, 9}, Data: []byte("abc"), Topic: str("t")}
	tests := []struct {
		name string
		fn   MsgIDFn
		msg  *gossipsubv1.Message
		want string
	}{
		// sha256("abc"), FIPS 180-2 test vector.
		{"sha256 data", MsgIDSHA256Data, msg, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		// sha256("") for a message without data: still an id, never a panic.
		{"sha256 empty", MsgIDSHA256Data, &gossipsubv1.Message{}, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"from||seqno", MsgIDFromSeqno, msg, "0024" + "0000000000000009"},
		{"from||seqno empty", MsgIDFromSeqno, &gossipsubv1.Message{}, ""},
		{"profile waku", ProfileWaku.MsgIDFn(), msg, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"profile libp2p", ProfileLibp2p.MsgIDFn(), msg, "00240000000000000009"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(tc.fn(tc.msg)); got != tc.want {
				t.Fatalf("id = %s, want %s", got, tc.want)
			}
		})
	}
	// The id must not alias the message: callers keep ids in caches.
	id := MsgIDFromSeqno(msg)
	id[0] = 0xff
	if !bytes.Equal(msg.From, []byte{0x00, 0x24}) {
		t.Fatal("MsgIDFromSeqno aliased msg.From")
	}
}
