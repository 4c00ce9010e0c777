package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

func TestRoundTrip(t *testing.T) {
	rpcs := []*gossipsubv1.RPC{
		{Subscriptions: []*gossipsubv1.SubOpts{sub("a", true), sub("b", false)}},
		{Publish: []*gossipsubv1.Message{{Data: []byte("hello"), Topic: str("t")}}},
		graftRPC("t1", "t2"),
		{Publish: []*gossipsubv1.Message{{Data: bytes.Repeat([]byte{7}, 100_000), Topic: str("big")}}},
	}
	var stream bytes.Buffer
	w := NewWriter(&stream, 0)
	for _, rpc := range rpcs {
		if err := w.Write(rpc); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	r := NewReader(&stream, 0)
	for i, want := range rpcs {
		var got gossipsubv1.RPC
		if err := r.ReadRPC(&got); err != nil {
			t.Fatalf("ReadRPC %d: %v", i, err)
		}
		assertRPC(t, &got, want)
	}
	if err := r.ReadRPC(&gossipsubv1.RPC{}); err != io.EOF {
		t.Fatalf("after last frame: got %v, want io.EOF", err)
	}
}

// countingWriter records each Write call so tests can see batching.
type countingWriter struct {
	calls int
	buf   bytes.Buffer
	err   error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	if c.err != nil {
		return 0, c.err
	}
	return c.buf.Write(p)
}

func TestWriterBatchesIntoOneWrite(t *testing.T) {
	cw := &countingWriter{}
	w := NewWriter(cw, 0)
	for range 10 {
		if err := w.Write(graftRPC("t")); err != nil {
			t.Fatal(err)
		}
	}
	if cw.calls != 0 {
		t.Fatalf("Write reached the stream before Flush: %d calls", cw.calls)
	}
	want := w.Buffered()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if cw.calls != 1 || cw.buf.Len() != want {
		t.Fatalf("Flush: %d calls, %d bytes; want 1 call, %d bytes", cw.calls, cw.buf.Len(), want)
	}
	if err := w.Flush(); err != nil || cw.calls != 1 {
		t.Fatalf("empty Flush: err %v, calls %d; want nil, 1", err, cw.calls)
	}
}

func TestWriterFlushThreshold(t *testing.T) {
	cw := &countingWriter{}
	w := NewWriter(cw, 0, WithFlushThreshold(100))
	msg := &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: make([]byte, 60), Topic: str("t")}}}
	if err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if cw.calls != 0 {
		t.Fatalf("flushed below the threshold")
	}
	if err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if cw.calls != 1 || w.Buffered() != 0 {
		t.Fatalf("at the threshold: %d calls, %d buffered; want 1, 0", cw.calls, w.Buffered())
	}
}

func TestWriterErrors(t *testing.T) {
	t.Run("frame over limit leaves batch unchanged", func(t *testing.T) {
		w := NewWriter(io.Discard, 50)
		if err := w.Write(graftRPC("t")); err != nil {
			t.Fatal(err)
		}
		before := w.Buffered()
		big := &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: make([]byte, 51)}}}
		if err := w.Write(big); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("Write: got %v, want ErrFrameTooLarge", err)
		}
		if err := w.WriteEncoded(make([]byte, 51)); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("WriteEncoded: got %v, want ErrFrameTooLarge", err)
		}
		if w.Buffered() != before {
			t.Fatalf("batch changed: %d bytes, want %d", w.Buffered(), before)
		}
	})
	t.Run("stream error is sticky", func(t *testing.T) {
		boom := errors.New("boom")
		w := NewWriter(&countingWriter{err: boom}, 0)
		if err := w.Write(graftRPC("t")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush: got %v, want boom", err)
		}
		if err := w.Write(graftRPC("t")); !errors.Is(err, boom) {
			t.Fatalf("Write after failure: got %v, want boom", err)
		}
	})
}

func TestWriteEncodedMatchesWrite(t *testing.T) {
	rpc := graftRPC("topic")
	frame := mustFrame(t, rpc)
	body := frame[1:] // short frame: one-byte prefix
	var a, b bytes.Buffer
	wa, wb := NewWriter(&a, 0), NewWriter(&b, 0)
	if err := wa.Write(rpc); err != nil {
		t.Fatal(err)
	}
	if err := wb.WriteEncoded(body); err != nil {
		t.Fatal(err)
	}
	_ = wa.Flush()
	_ = wb.Flush()
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("WriteEncoded %x != Write %x", b.Bytes(), a.Bytes())
	}
}

// uvarint encodes a length prefix for hand-built frames.
func uvarint(n uint64) []byte { return binary.AppendUvarint(nil, n) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// repeatField encodes n copies of a length-delimited field with body v.
func repeatField(tag byte, v []byte, n int) []byte {
	one := cat([]byte{tag}, uvarint(uint64(len(v))), v)
	return bytes.Repeat(one, n)
}

func TestReaderRejects(t *testing.T) {
	valid := mustFrame(t, graftRPC("t"))
	subsBomb := repeatField(0x0a, nil, 100_000)  // 100k empty SubOpts
	ids := repeatField(0x12, []byte{1}, 100_000) // IHAVE.messageIDs, 3 bytes each
	ihave := cat([]byte{0x0a}, uvarint(uint64(len(ids))), ids)
	ihaveBomb := cat([]byte{0x1a}, uvarint(uint64(len(ihave))), ihave)
	tests := []struct {
		name    string
		stream  []byte
		maxSize int
		opts    []ReaderOption
		want    error
	}{
		{"declared 16 MiB over 1 MiB limit", uvarint(16 << 20), 0, nil, ErrFrameTooLarge},
		{"declared 2^63", uvarint(1 << 63), 0, nil, ErrFrameTooLarge},
		{"one byte over waku limit", uvarint(MaxFrameWaku + 1), MaxFrameWaku, nil, ErrFrameTooLarge},
		{"11-byte varint", bytes.Repeat([]byte{0xff}, 11), 0, nil, ErrVarintOverflow},
		{"10-byte varint above 2^64", cat(bytes.Repeat([]byte{0xff}, 9), []byte{0x02}), 0, nil, ErrVarintOverflow},
		{"eof inside prefix", []byte{0x80}, 0, nil, ErrTruncated},
		{"eof inside body", valid[:len(valid)-1], 0, nil, ErrTruncated},
		{"truncated also matches io.ErrUnexpectedEOF", valid[:len(valid)-1], 0, nil, io.ErrUnexpectedEOF},
		{"garbage protobuf", cat(uvarint(3), []byte{0xff, 0xff, 0xff}), 0, nil, ErrMalformed},
		{"field number zero", cat(uvarint(2), []byte{0x02, 0x00}), 0, nil, ErrMalformed},
		{"nested length past control end", cat(uvarint(4), []byte{0x1a, 0x02, 0x0a, 0x05}), 0, nil, ErrMalformed},
		{"100k empty subscriptions in one frame", cat(uvarint(uint64(len(subsBomb))), subsBomb), 0, nil, ErrLimitExceeded},
		{"100k one-byte IHAVE ids", cat(uvarint(uint64(len(ihaveBomb))), ihaveBomb), 0, nil, ErrLimitExceeded},
		{"too many empty frames", make([]byte, 100), 0, []ReaderOption{WithMaxEmptyFrames(10)}, ErrTooManyEmptyFrames},
		{"publish over custom limit", mustFrame(t, &gossipsubv1.RPC{Publish: make([]*gossipsubv1.Message, 3)}),
			0, []ReaderOption{WithLimits(Limits{MaxMessages: 2})}, ErrLimitExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.stream), tc.maxSize, tc.opts...)
			err := r.ReadRPC(&gossipsubv1.RPC{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if cap(r.buf) > len(tc.stream)+minGrow {
				t.Fatalf("buffer of %d bytes for a %d-byte stream", cap(r.buf), len(tc.stream))
			}
		})
	}
}

func TestLimitErrorNamesField(t *testing.T) {
	lim := Limits{MaxSubscriptions: 1, MaxControlEntries: 1, MaxControlIDs: 1, MaxPrunePeers: 1, MaxMessages: 1}
	tests := []struct {
		name  string
		rpc   *gossipsubv1.RPC
		field string
	}{
		{"subscriptions", &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{sub("a", true), sub("b", true)}}, "subscriptions"},
		{"publish", &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{}, {}}}, "publish messages"},
		{"grafts", graftRPC("a", "b"), "control entries"},
		{"iwant ids", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: [][]byte{{1}, {2}}}}}}, "control message ids"},
		{"idontwant ids", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: [][]byte{{1}, {2}}}}}}, "control message ids"},
		{"ihave ids", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{{TopicID: str("t"), MessageIDs: [][]byte{{1}, {2}}}}}}, "control message ids"},
		{"prune peers", &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{Prune: []*gossipsubv1.ControlPrune{{Peers: []*gossipsubv1.PeerInfo{{}, {}}}}}}, "prune peers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := mustFrame(t, tc.rpc)
			err := NewReader(bytes.NewReader(frame), 0, WithLimits(lim)).ReadRPC(&gossipsubv1.RPC{})
			var le *LimitError
			if !errors.As(err, &le) || le.Field != tc.field || le.Limit != 1 {
				t.Fatalf("got %v, want LimitError{%q, 1}", err, tc.field)
			}
			// The same RPC passes with limits switched off.
			var got gossipsubv1.RPC
			off := Limits{MaxSubscriptions: -1, MaxMessages: -1, MaxControlEntries: -1, MaxControlIDs: -1, MaxPrunePeers: -1}
			if err := DecodeRPC(frame[1:], &got, off); err != nil {
				t.Fatalf("unlimited: %v", err)
			}
			assertRPC(t, &got, tc.rpc)
		})
	}
}

func TestReaderSkipsEmptyFrames(t *testing.T) {
	want := graftRPC("t")
	stream := cat([]byte{0, 0, 0}, mustFrame(t, want), []byte{0})
	r := NewReader(bytes.NewReader(stream), 0)
	var got gossipsubv1.RPC
	if err := r.ReadRPC(&got); err != nil {
		t.Fatal(err)
	}
	assertRPC(t, &got, want)
	if err := r.ReadRPC(&got); err != io.EOF {
		t.Fatalf("trailing empty frame then EOF: got %v, want io.EOF", err)
	}
}

// TestReaderGrowsWithReceivedBytes: a peer that declares a frame at the limit
// and sends only a few bytes must not make us allocate the declared size.
func TestReaderGrowsWithReceivedBytes(t *testing.T) {
	stream := cat(uvarint(MaxFrameDefault), make([]byte, 10))
	r := NewReader(bytes.NewReader(stream), MaxFrameDefault)
	_, err := r.ReadFrame()
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v, want ErrTruncated", err)
	}
	if cap(r.buf) > minGrow {
		t.Fatalf("allocated %d bytes for 10 received", cap(r.buf))
	}
}

func TestReaderReleasesLargeBuffer(t *testing.T) {
	big := &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{{Data: make([]byte, 2*DefaultRetainBuffer)}}}
	stream := cat(mustFrame(t, big), mustFrame(t, graftRPC("t")))
	r := NewReader(bytes.NewReader(stream), 0)
	var got gossipsubv1.RPC
	if err := r.ReadRPC(&got); err != nil {
		t.Fatal(err)
	}
	if cap(r.buf) > DefaultRetainBuffer {
		t.Fatalf("kept a %d-byte buffer after decoding a large frame", cap(r.buf))
	}
	if err := r.ReadRPC(&got); err != nil {
		t.Fatal(err)
	}
	if cap(r.buf) > DefaultRetainBuffer {
		t.Fatalf("kept a %d-byte buffer after a small frame", cap(r.buf))
	}
}

// errReader fails with a non-EOF error after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReaderPassesStreamErrors(t *testing.T) {
	boom := errors.New("stream reset")
	for _, data := range [][]byte{nil, {0x05, 1, 2}} {
		r := NewReader(&errReader{data: data, err: boom}, 0)
		if err := r.ReadRPC(&gossipsubv1.RPC{}); !errors.Is(err, boom) {
			t.Fatalf("data %x: got %v, want the stream error", data, err)
		}
	}
}

// TestDecodeTolerates covers inputs other implementations send that must
// decode, not fail: unknown fields (v1.3 extensions, the partial-messages
// draft, nim's experimental RPCs) and non-UTF-8 strings (proto2 strings are
// bytes on the wire; go-libp2p-pubsub emits binary ids in string fields).
func TestDecodeTolerates(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		check func(t *testing.T, rpc *gossipsubv1.RPC)
	}{
		{"control extensions (v1.3, field 6)", cat(graftRPCBody(t), []byte{0x1a, 0x02, 0x32, 0x00}), func(t *testing.T, rpc *gossipsubv1.RPC) {
			if len(rpc.GetControl().GetGraft()) != 1 {
				t.Errorf("graft lost: %v", rpc)
			}
		}},
		{"test extension field 6492434 on RPC", cat([]byte{0x0a, 0x00}, protowireVarintField(6492434, 1)), nil},
		{"partial messages draft field 10", cat([]byte{0x52, 0x02, 0x0a, 0x00}), nil},
		{"non-UTF-8 topic", []byte{0x0a, 0x04, 0x12, 0x02, 0xff, 0xfe}, func(t *testing.T, rpc *gossipsubv1.RPC) {
			if got := rpc.Subscriptions[0].GetTopicid(); got != "\xff\xfe" {
				t.Errorf("topic %q", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rpc gossipsubv1.RPC
			if err := DecodeRPC(tc.body, &rpc, DefaultLimits()); err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, &rpc)
			}
			// Unknown fields survive a re-encode (relevant when relaying);
			// proto.Equal compares them too.
			again, err := AppendFrame(nil, &rpc)
			if err != nil {
				t.Fatal(err)
			}
			var back gossipsubv1.RPC
			if err := NewReader(bytes.NewReader(again), 0).ReadRPC(&back); err != nil {
				t.Fatal(err)
			}
			assertRPC(t, &back, &rpc)
		})
	}
}

func graftRPCBody(t *testing.T) []byte {
	f := mustFrame(t, graftRPC("t"))
	return f[1:]
}

// protowireVarintField encodes a varint field with an arbitrary number.
func protowireVarintField(num uint64, v uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, num<<3), v)
}

func TestMessageFrameMatchesRPC(t *testing.T) {
	for _, size := range []int{0, 100, 200, 20_000} {
		msg := &gossipsubv1.Message{Data: make([]byte, size), Topic: str("t")}
		enc, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		want := mustFrame(t, &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg}})
		if got := AppendMessageFrame(nil, enc); !bytes.Equal(got, want) {
			t.Fatalf("data %d: AppendMessageFrame %x, want %x", size, got, want)
		}
		var buf bytes.Buffer
		w := NewWriter(&buf, 0)
		if err := w.WriteMessage(enc); err != nil {
			t.Fatal(err)
		}
		_ = w.Flush()
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("data %d: WriteMessage wrote %x", size, buf.Bytes())
		}
	}
	w := NewWriter(io.Discard, 100)
	// 1 tag byte + 1 length byte + 99 bytes > 100.
	if err := w.WriteMessage(make([]byte, 99)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize message: got %v", err)
	}
}

// TestDecodedFieldsAreIndependent: decoded messages share one copy of their
// encoding internally; neither reusing the input nor appending to one field
// may change another.
func TestDecodedFieldsAreIndependent(t *testing.T) {
	orig := signed(t, newSigner(t, rsaKey(t), 5), "data")
	frame := mustFrame(t, &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{orig, orig}})
	_, prefix := binary.Uvarint(frame)
	body := frame[prefix:]
	var rpc gossipsubv1.RPC
	if err := DecodeRPC(body, &rpc, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0xff
	}
	m := rpc.Publish[0]
	m.From = append(m.From, 1, 2, 3)
	m.Data = append(m.Data, bytes.Repeat([]byte{9}, 100)...)
	m.Seqno = append(m.Seqno, 4)
	assertRPC(t, rpc.Publish[1], orig)
	m.From, m.Data, m.Seqno = orig.From, orig.Data, orig.Seqno
	assertRPC(t, m, orig)
}

// TestMessageDescriptorGuard: decode.go decodes Message by hand and knows
// fields 1-6 only. If rpc.proto ever gains a Message field, this fails so
// that unmarshalMessage is updated instead of silently treating the new
// field as unknown.
func TestMessageDescriptorGuard(t *testing.T) {
	fields := (&gossipsubv1.Message{}).ProtoReflect().Descriptor().Fields()
	want := []string{"from", "data", "seqno", "topic", "signature", "key"}
	if fields.Len() != len(want) {
		t.Fatalf("Message has %d fields, decode.go knows %d", fields.Len(), len(want))
	}
	for i, name := range want {
		f := fields.ByNumber(protoreflect.FieldNumber(i + 1))
		if f == nil || string(f.Name()) != name || f.Cardinality() == protoreflect.Repeated {
			t.Fatalf("Message field %d is %v, decode.go expects optional %q", i+1, f, name)
		}
	}
}

// TestWriterGrowKeepsTheBatch: Grow makes room without changing what is
// buffered, so frames written after it need no further allocation.
func TestWriterGrowKeepsTheBatch(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 0, WithFlushThreshold(0))
	topic := "t"
	rpc := &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Topicid: &topic}}}
	if err := w.Write(rpc); err != nil {
		t.Fatal(err)
	}
	before := w.Buffered()
	w.Grow(1 << 16)
	if w.Buffered() != before || cap(w.buf)-len(w.buf) < 1<<16 {
		t.Fatalf("buffered %d → %d, spare %d", before, w.Buffered(), cap(w.buf)-len(w.buf))
	}
	if allocs := testing.AllocsPerRun(10, func() {
		w.buf = w.buf[:before]
		for range 100 {
			_ = w.Write(rpc)
		}
	}); allocs > 100 { // the RPC encodings themselves, not buffer growth
		t.Fatalf("%v allocations for 100 frames after Grow", allocs)
	}
	if err := w.Flush(); err != nil || out.Len() == 0 {
		t.Fatalf("flush: %v, %d bytes", err, out.Len())
	}
}
