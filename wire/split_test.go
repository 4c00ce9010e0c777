package wire

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// flatten lists an RPC's content in order, one line per item, with IHAVE,
// IWANT and IDONTWANT reduced to (kind, topic, id) so that split entries
// compare equal to the entry they came from.
func flatten(rpcs []*gossipsubv1.RPC) []string {
	var out []string
	item := func(kind string, m proto.Message) {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		out = append(out, fmt.Sprintf("%s %x", kind, b))
	}
	ids := func(kind, topic string, ids [][]byte) {
		for _, id := range ids {
			out = append(out, fmt.Sprintf("%s %q %x", kind, topic, id))
		}
	}
	// Items of one kind keep their relative order across parts; kinds are
	// compared separately because parts interleave them.
	var subs, msgs, ctl []string
	for _, r := range rpcs {
		out = nil
		for _, s := range r.Subscriptions {
			item("sub", s)
		}
		subs = append(subs, out...)
		out = nil
		for _, m := range r.Publish {
			item("msg", m)
		}
		msgs = append(msgs, out...)
	}
	for _, kind := range []string{"ihave", "iwant", "graft", "prune", "idontwant"} {
		for _, r := range rpcs {
			out = nil
			c := r.GetControl()
			switch kind {
			case "ihave":
				for _, e := range c.GetIhave() {
					if len(e.MessageIDs) == 0 {
						item("ihave-empty", e)
					}
					ids("ihave", e.GetTopicID(), e.MessageIDs)
				}
			case "iwant":
				for _, e := range c.GetIwant() {
					if len(e.MessageIDs) == 0 {
						item("iwant-empty", e)
					}
					ids("iwant", "", e.MessageIDs)
				}
			case "graft":
				for _, e := range c.GetGraft() {
					item("graft", e)
				}
			case "prune":
				for _, e := range c.GetPrune() {
					item("prune", e)
				}
			case "idontwant":
				for _, e := range c.GetIdontwant() {
					if len(e.MessageIDs) == 0 {
						item("idontwant-empty", e)
					}
					ids("idontwant", "", e.MessageIDs)
				}
			}
			ctl = append(ctl, out...)
		}
	}
	return append(append(subs, msgs...), ctl...)
}

// checkSplit asserts the SplitRPC contract: every part fits and the parts
// together carry exactly the original content.
func checkSplit(t *testing.T, rpc *gossipsubv1.RPC, parts []*gossipsubv1.RPC, max int) {
	t.Helper()
	for i, p := range parts {
		if n := proto.Size(p); n > max {
			t.Fatalf("part %d is %d bytes, limit %d", i, n, max)
		}
	}
	want, got := flatten([]*gossipsubv1.RPC{rpc}), flatten(parts)
	if len(want) != len(got) {
		t.Fatalf("parts carry %d items, original %d", len(got), len(want))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("item %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

func ids(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2)
	}
	return out
}

func TestSplitRPC(t *testing.T) {
	kib := bytes.Repeat([]byte{1}, 1024)
	manyMsgs := &gossipsubv1.RPC{}
	for range 300 {
		manyMsgs.Publish = append(manyMsgs.Publish, &gossipsubv1.Message{Data: kib, Topic: str("t")})
	}
	mixed := &gossipsubv1.RPC{
		Subscriptions: []*gossipsubv1.SubOpts{sub("a", true), sub("b", false)},
		Publish:       manyMsgs.Publish[:20],
		Control: &gossipsubv1.ControlMessage{
			Ihave:     []*gossipsubv1.ControlIHave{{TopicID: str("a"), MessageIDs: ids(3000, 32)}, {TopicID: str("b")}},
			Iwant:     []*gossipsubv1.ControlIWant{{MessageIDs: ids(1000, 32)}},
			Graft:     []*gossipsubv1.ControlGraft{{TopicID: str("a")}},
			Prune:     []*gossipsubv1.ControlPrune{{TopicID: str("b"), Backoff: u64(60)}},
			Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: ids(2000, 32)}},
		},
	}
	tests := []struct {
		name      string
		rpc       *gossipsubv1.RPC
		max       int
		wantParts int // 0: only check the contract
	}{
		{"fits: returned as is", graftRPC("t"), MaxFrameWaku, 1},
		{"5000 IHAVE ids over the waku limit", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{{TopicID: str("t"), MessageIDs: ids(5000, 32)}}}}, MaxFrameWaku, 2},
		{"300 KiB of messages in 64 KiB frames", manyMsgs, 64 << 10, 5},
		{"mixed content in 16 KiB frames", mixed, 16 << 10, 0},
		{"mixed content in 1 KiB frames", &gossipsubv1.RPC{Subscriptions: mixed.Subscriptions, Control: mixed.Control}, 1 << 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := SplitRPC(tc.rpc, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantParts != 0 && len(parts) != tc.wantParts {
				t.Errorf("%d parts, want %d", len(parts), tc.wantParts)
			}
			if tc.wantParts == 1 && parts[0] != tc.rpc {
				t.Error("an rpc that fits was copied")
			}
			checkSplit(t, tc.rpc, parts, tc.max)
		})
	}
}

func TestSplitRPCTooLarge(t *testing.T) {
	tests := []struct {
		name string
		rpc  *gossipsubv1.RPC
	}{
		{"message", &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: make([]byte, 200)}}}},
		{"subscription", &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{sub(string(make([]byte, 200)), true)}}},
		{"one IHAVE id", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{{MessageIDs: ids(1, 200)}}}}},
		{"prune", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Prune: []*gossipsubv1.ControlPrune{{Peers: []*gossipsubv1.PeerInfo{{SignedPeerRecord: make([]byte, 200)}}}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SplitRPC(tc.rpc, 100); !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("got %v, want ErrFrameTooLarge", err)
			}
		})
	}
}

// FuzzSplitRPC: for any decodable RPC and limit, the parts fit and carry the
// original content, or the error says an item is too large on its own.
func FuzzSplitRPC(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if len(s) > 2 {
			f.Add(s[1:], uint16(16))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, limit uint16) {
		var rpc gossipsubv1.RPC
		if proto.Unmarshal(body, &rpc) != nil {
			return
		}
		max := 8 + int(limit)%2048
		parts, err := SplitRPC(&rpc, max)
		if err != nil {
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		checkSplit(t, &rpc, parts, max)
	})
}

func BenchmarkSplitIHave5000(b *testing.B) {
	rpc := &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
		Ihave: []*gossipsubv1.ControlIHave{{TopicID: str("t"), MessageIDs: ids(5000, 32)}}}}
	b.SetBytes(int64(proto.Size(rpc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitRPC(rpc, MaxFrameWaku); err != nil {
			b.Fatal(err)
		}
	}
}
