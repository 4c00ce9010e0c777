package wire

import (
	"bytes"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/golden_stream.bin from the hex in golden_test.go")

// unhex decodes hex written with spaces, newlines and "//" comments.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// goldenFrames are complete frames (length prefix included), checked by hand
// against the protobuf encoding rules: tag = field<<3 | wiretype (2 = LEN,
// 0 = VARINT), then a varint length for LEN fields.
func goldenFrames(t testing.TB) []struct {
	name  string
	rpc   *gossipsubv1.RPC
	frame []byte
} {
	big := bytes.Repeat([]byte{0x55}, 200)
	return []struct {
		name  string
		rpc   *gossipsubv1.RPC
		frame []byte
	}{
		{"subscription", &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{sub("t", true)}}, unhex(t, `
			07          // frame length 7
			0a 05       // RPC.subscriptions (1, LEN) length 5
			08 01       //   SubOpts.subscribe (1, VARINT) = true
			12 01 74    //   SubOpts.topicid (2, LEN) = "t"
		`)},
		{"publish all fields", &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{
			From: []byte{1, 2}, Data: []byte("hi"), Seqno: []byte{0, 0, 0, 0, 0, 0, 0, 1},
			Topic: str("t"), Signature: []byte{0xaa, 0xbb}, Key: []byte{0xcc},
		}}}, unhex(t, `
			1e                             // frame length 30
			12 1c                          // RPC.publish (2, LEN) length 28
			0a 02 01 02                    //   Message.from (1, LEN)
			12 02 68 69                    //   Message.data (2, LEN) = "hi"
			1a 08 00 00 00 00 00 00 00 01  //   Message.seqno (3, LEN) = 1, big-endian
			22 01 74                       //   Message.topic (4, LEN) = "t"
			2a 02 aa bb                    //   Message.signature (5, LEN)
			32 01 cc                       //   Message.key (6, LEN)
		`)},
		{"ihave", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{
			{TopicID: str("t"), MessageIDs: [][]byte{{1, 2}, {3}}},
		}}}, unhex(t, `
			0e           // frame length 14
			1a 0c        // RPC.control (3, LEN) length 12
			0a 0a        //   ControlMessage.ihave (1, LEN) length 10
			0a 01 74     //     ControlIHave.topicID (1, LEN) = "t"
			12 02 01 02  //     ControlIHave.messageIDs (2, LEN)
			12 01 03     //     ControlIHave.messageIDs (2, LEN)
		`)},
		{"iwant", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Iwant: []*gossipsubv1.ControlIWant{
			{MessageIDs: [][]byte{{0xab}}},
		}}}, unhex(t, `
			07        // frame length 7
			1a 05     // RPC.control (3, LEN) length 5
			12 03     //   ControlMessage.iwant (2, LEN) length 3
			0a 01 ab  //     ControlIWant.messageIDs (1, LEN)
		`)},
		{"graft", graftRPC("t"), unhex(t, `
			07        // frame length 7
			1a 05     // RPC.control (3, LEN) length 5
			1a 03     //   ControlMessage.graft (3, LEN) length 3
			0a 01 74  //     ControlGraft.topicID (1, LEN) = "t"
		`)},
		{"prune with peers and backoff", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Prune: []*gossipsubv1.ControlPrune{{
			TopicID: str("t"),
			Peers:   []*gossipsubv1.PeerInfo{{PeerID: []byte{1, 2}, SignedPeerRecord: []byte{3}}},
			Backoff: u64(300),
		}}}}, unhex(t, `
			13           // frame length 19
			1a 11        // RPC.control (3, LEN) length 17
			22 0f        //   ControlMessage.prune (4, LEN) length 15
			0a 01 74     //     ControlPrune.topicID (1, LEN) = "t"
			12 07        //     ControlPrune.peers (2, LEN) length 7
			0a 02 01 02  //       PeerInfo.peerID (1, LEN)
			12 01 03     //       PeerInfo.signedPeerRecord (2, LEN)
			18 ac 02     //     ControlPrune.backoff (3, VARINT) = 300 (0x2c|0x80, 0x02)
		`)},
		{"idontwant", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{
			{MessageIDs: [][]byte{{0xff}}},
		}}}, unhex(t, `
			07        // frame length 7
			1a 05     // RPC.control (3, LEN) length 5
			2a 03     //   ControlMessage.idontwant (5, LEN) length 3
			0a 01 ff  //     ControlIDontWant.messageIDs (1, LEN)
		`)},
		{"two-byte length prefix", &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: big}}}, append(unhex(t, `
			ce 01     // frame length 206 (0x4e|0x80, 0x01)
			12 cb 01  // RPC.publish (2, LEN) length 203
			12 c8 01  //   Message.data (2, LEN) length 200, then 200 x 0x55
		`), big...)},
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, tc := range goldenFrames(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := mustFrame(t, tc.rpc)
			if !bytes.Equal(got, tc.frame) {
				t.Fatalf("encoded\n %x\nwant\n %x", got, tc.frame)
			}
			var dec gossipsubv1.RPC
			if err := NewReader(bytes.NewReader(tc.frame), 0).ReadRPC(&dec); err != nil {
				t.Fatal(err)
			}
			assertRPC(t, &dec, tc.rpc)
		})
	}
}

// TestGoldenStreamFixture: the committed testdata/golden_stream.bin (every
// golden frame back to back, as a peer would send them) decodes to the
// golden RPCs in order. Regenerate with go test ./wire -run GoldenStream -update.
func TestGoldenStreamFixture(t *testing.T) {
	golden := goldenFrames(t)
	var want []byte
	for _, g := range golden {
		want = append(want, g.frame...)
	}
	const path = "testdata/golden_stream.bin"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("%s differs from the golden frames; rerun with -update if the test changed", path)
	}
	r := NewReader(bytes.NewReader(data), 0)
	for _, g := range golden {
		var got gossipsubv1.RPC
		if err := r.ReadRPC(&got); err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		assertRPC(t, &got, g.rpc)
	}
	if err := r.ReadRPC(&gossipsubv1.RPC{}); err != io.EOF {
		t.Fatalf("after the last frame: got %v, want io.EOF", err)
	}
}
