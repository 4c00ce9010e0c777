package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// fuzzLimits are small so that the fuzzer reaches the limit paths quickly.
var fuzzLimits = Limits{MaxSubscriptions: 4, MaxMessages: 4, MaxControlEntries: 4, MaxControlIDs: 8, MaxPrunePeers: 2}

// knownReadError reports whether err is one the Reader documents.
func knownReadError(err error) bool {
	for _, e := range []error{io.EOF, ErrFrameTooLarge, ErrTruncated, ErrVarintOverflow, ErrMalformed, ErrLimitExceeded, ErrTooManyEmptyFrames} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fuzzSeeds are valid and broken streams the corpus starts from.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	var stream []byte
	for _, g := range goldenFrames(t) {
		seeds = append(seeds, g.frame)
		stream = append(stream, g.frame...)
	}
	signedMsg := signed(t, newSigner(t, ed25519Key(t, 1), 1), "seed")
	rsaMsg := signed(t, newSigner(t, rsaKey(t), 1), "seed")
	seeds = append(seeds,
		stream,
		mustFrame(t, &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{signedMsg, rsaMsg}}),
		[]byte{0x00, 0x00, 0x03, 0x1a, 0x01, 0x0a},
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		cat(uvarint(1<<20), []byte{0x0a, 0x00}),
	)
	// Streams recorded from js-libp2p gossipsub.
	js, err := filepath.Glob("testdata/js_*.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range js {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 512, WithLimits(fuzzLimits), WithMaxEmptyFrames(4))
		for range 64 {
			var rpc gossipsubv1.RPC
			err := r.ReadRPC(&rpc)
			if cap(r.buf) > 2*len(data)+minGrow {
				t.Fatalf("buffer %d bytes for %d input bytes", cap(r.buf), len(data))
			}
			if err != nil {
				if !knownReadError(err) {
					t.Fatalf("undocumented error %T: %v", err, err)
				}
				return
			}
			// Whatever we accept, we can write again and read back.
			frame, err := AppendFrame(nil, &rpc)
			if err != nil {
				t.Fatalf("re-encode accepted rpc: %v", err)
			}
			var again gossipsubv1.RPC
			if err := NewReader(bytes.NewReader(frame), 0, WithLimits(fuzzLimits)).ReadRPC(&again); err != nil {
				t.Fatalf("re-read accepted rpc: %v", err)
			}
			if !proto.Equal(&rpc, &again) {
				t.Fatalf("round trip changed the rpc")
			}
		}
	})
}

// FuzzDecodeRPC checks the pre-decode scan against the protobuf decoder: it
// fails exactly when the decoder fails or a limit is exceeded, and accepts
// exactly what the decoder decodes.
func FuzzDecodeRPC(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		if len(s) > 2 {
			f.Add(s[1:]) // bodies without (most) prefixes
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var ref gossipsubv1.RPC
		refErr := proto.Unmarshal(body, &ref)
		var got gossipsubv1.RPC
		err := DecodeRPC(body, &got, fuzzLimits)
		switch {
		case refErr != nil:
			// The scan does not look inside entries, so an RPC with too
			// many malformed entries may be refused for either reason.
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimitExceeded) {
				t.Fatalf("decoder failed (%v) but DecodeRPC returned %v", refErr, err)
			}
		case overLimits(&ref, fuzzLimits) != "":
			if !errors.Is(err, ErrLimitExceeded) {
				t.Fatalf("rpc over limit (%s) but DecodeRPC returned %v", overLimits(&ref, fuzzLimits), err)
			}
		default:
			if err != nil {
				t.Fatalf("valid rpc within limits rejected: %v", err)
			}
			if !proto.Equal(&got, &ref) {
				t.Fatal("DecodeRPC differs from proto.Unmarshal")
			}
		}
	})
}

// overLimits counts a decoded RPC's entries the slow, obvious way.
func overLimits(rpc *gossipsubv1.RPC, l Limits) string {
	c := rpc.GetControl()
	entries := len(c.GetIhave()) + len(c.GetIwant()) + len(c.GetGraft()) + len(c.GetPrune()) + len(c.GetIdontwant())
	ids, peers := 0, 0
	for _, h := range c.GetIhave() {
		ids += len(h.MessageIDs)
	}
	for _, w := range c.GetIwant() {
		ids += len(w.MessageIDs)
	}
	for _, d := range c.GetIdontwant() {
		ids += len(d.MessageIDs)
	}
	for _, p := range c.GetPrune() {
		peers += len(p.Peers)
	}
	for _, x := range []struct {
		name     string
		n, limit int
	}{
		{"subscriptions", len(rpc.Subscriptions), l.MaxSubscriptions},
		{"publish", len(rpc.Publish), l.MaxMessages},
		{"entries", entries, l.MaxControlEntries},
		{"ids", ids, l.MaxControlIDs},
		{"peers", peers, l.MaxPrunePeers},
	} {
		if x.n > x.limit {
			return fmt.Sprintf("%s %d > %d", x.name, x.n, x.limit)
		}
	}
	return ""
}

// FuzzVerifySignature: verification and the message-id functions on random
// messages return errors, never panic.
func FuzzVerifySignature(f *testing.F) {
	for _, b := range messageSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m gossipsubv1.Message
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		signErr := CheckPolicy(StrictSign, &m)
		noSignErr := CheckPolicy(StrictNoSign, &m)
		if signErr == nil && noSignErr == nil {
			t.Fatal("a message passed both StrictSign and StrictNoSign")
		}
		_ = VerifySignature(&m)
		_ = MsgIDSHA256Data(&m)
		_ = MsgIDFromSeqno(&m)
	})
}

// messageSeeds are encoded messages: signed with an inlined and a
// non-inlined key, and anonymous.
func messageSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, m := range []*gossipsubv1.Message{
		signed(t, newSigner(t, ed25519Key(t, 1), 1), "seed"),
		signed(t, newSigner(t, rsaKey(t), 1), "seed"),
		{Data: []byte("anonymous"), Topic: str("t")},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestWriteFuzzCorpus writes the seeds above into testdata/fuzz so that the
// committed corpus and the code stay in step (go test -run WriteFuzzCorpus -update).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		return
	}
	write := func(target string, seeds [][]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	seeds := fuzzSeeds(t)
	write("FuzzReader", seeds)
	var bodies [][]byte
	for _, s := range seeds {
		if len(s) > 2 {
			bodies = append(bodies, s[1:])
		}
	}
	write("FuzzDecodeRPC", bodies)
	write("FuzzVerifySignature", messageSeeds(t))
	write("FuzzDecodeMessage", messageSeeds(t))
	// FuzzSplitRPC takes a body and a limit.
	dir := filepath.Join("testdata", "fuzz", "FuzzSplitRPC")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\n", b, 16+i*40)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecodeMessage aims FuzzDecodeRPC's comparison at the hand-written
// message decoder: the input is one Message body.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range messageSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		body := AppendEncodedFrame([]byte{0x12}, msg) // RPC.publish (2, LEN)
		var ref, got gossipsubv1.RPC
		refErr := proto.Unmarshal(body, &ref)
		err := DecodeRPC(body, &got, DefaultLimits())
		if (refErr != nil) != (err != nil) {
			t.Fatalf("proto.Unmarshal: %v, DecodeRPC: %v", refErr, err)
		}
		if err == nil && !proto.Equal(&got, &ref) {
			t.Fatalf("DecodeRPC differs from proto.Unmarshal:\n%v\n%v", &got, &ref)
		}
	})
}
