package session

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// sha256IDs returns n distinct 32-byte ids (waku's message ids).
func sha256IDs(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		h := sha256.Sum256(fmt.Appendf(nil, "m%d", i))
		out[i] = h[:]
	}
	return out
}

// readFrames reads frames until it has got want IHAVE ids (or IDONTWANT
// ids, per count), checking each frame's encoded size and applying each to
// check.
func readFrames(t *testing.T, h *harness, want int, count func(*gossipsubv1.RPC) int, check func(size int, rpc *gossipsubv1.RPC)) {
	t.Helper()
	got := 0
	for got < want {
		rpc := h.read(t)
		check(proto.Size(rpc), rpc)
		got += count(rpc)
	}
	if got != want {
		t.Fatalf("read %d ids, want %d", got, want)
	}
}

// TestSessionSplitsControlToTheFrame: issue 11 item 6. An IHAVE of 5,000
// sha256 ids encodes to about 170 KB, above waku's 150 KiB frame limit: the
// writer used to refuse the whole item. It is split into frames of at most
// OutboundFrame (64 KiB, rust-libp2p's limit) and every id arrives.
func TestSessionSplitsControlToTheFrame(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxFrame = wire.ProfileWaku.MaxFrame()
		h := newHarness(t, cfg, "a")
		h.joined(t, "a")
		ids := sha256IDs(5000)
		topic := "a"
		if n := proto.Size(&gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{{TopicID: &topic, MessageIDs: ids}}}}); n <= cfg.MaxFrame {
			t.Fatalf("IHAVE of %d B fits the %d B frame: the test needs a larger one", n, cfg.MaxFrame)
		}
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{{TopicID: &topic, MessageIDs: ids}}}})
		frames := 0
		readFrames(t, h, len(ids), func(rpc *gossipsubv1.RPC) int {
			n := 0
			for _, ih := range rpc.GetControl().GetIhave() {
				n += len(ih.GetMessageIDs())
			}
			return n
		}, func(size int, _ *gossipsubv1.RPC) {
			frames++
			if size > cfg.OutboundFrame {
				t.Fatalf("frame of %d B, above OutboundFrame %d", size, cfg.OutboundFrame)
			}
		})
		if frames < 3 {
			t.Fatalf("%d frames for 170 KB of IHAVE", frames)
		}
	})
}

// TestSessionIDontWantInFramesGoHonours: issue 11 item 7. go-libp2p-pubsub
// honours only the first MaxIDontWantLength (10) IDONTWANT ids of an RPC;
// 25 ids queued at once leave at once in frames of at most 10 ids each.
func TestSessionIDontWantInFramesGoHonours(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), "a")
		h.joined(t, "a")
		var entries []*gossipsubv1.ControlIDontWant
		for _, id := range sha256IDs(25) {
			entries = append(entries, &gossipsubv1.ControlIDontWant{MessageIDs: [][]byte{id}})
		}
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Idontwant: entries}})
		idw := func(rpc *gossipsubv1.RPC) int {
			n := 0
			for _, e := range rpc.GetControl().GetIdontwant() {
				n += len(e.GetMessageIDs())
			}
			return n
		}
		readFrames(t, h, 25, idw, func(_ int, rpc *gossipsubv1.RPC) {
			if n := idw(rpc); n > 10 {
				t.Fatalf("a frame with %d IDONTWANT ids: go honours 10", n)
			}
		})
	})
}
