package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

const benchBatch = 32

// benchRPC is a signed 1 KiB publish, as in the M1 benchmark scenario.
func benchRPC(b *testing.B) *gossipsubv1.RPC {
	msg := &gossipsubv1.Message{Data: bytes.Repeat([]byte{0x5a}, 1024), Topic: str("/waku/2/rs/1/0")}
	if err := newSigner(b, ed25519Key(b, 1), 1).Sign(msg); err != nil {
		b.Fatal(err)
	}
	return &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg}}
}

func BenchmarkEncode1KiB(b *testing.B) {
	rpc := benchRPC(b)
	buf := mustFrame(b, rpc)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], rpc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode1KiB decodes a frame body with DecodeRPC (limit scan
// included) and, for reference, with proto.Unmarshal.
func BenchmarkDecode1KiB(b *testing.B) {
	frame := mustFrame(b, benchRPC(b))
	body := frame[2:] // two-byte prefix for ~1.2 KB
	lim := DefaultLimits()
	for _, dec := range []struct {
		name string
		fn   func(*gossipsubv1.RPC) error
	}{
		{"wire", func(rpc *gossipsubv1.RPC) error { return DecodeRPC(body, rpc, lim) }},
		{"proto", func(rpc *gossipsubv1.RPC) error { return proto.Unmarshal(body, rpc) }},
	} {
		b.Run(dec.name, func(b *testing.B) {
			var rpc gossipsubv1.RPC
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := dec.fn(&rpc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriterSingle writes and flushes each RPC: one stream write per RPC.
func BenchmarkWriterSingle(b *testing.B) {
	rpc := benchRPC(b)
	w := NewWriter(io.Discard, 0)
	b.SetBytes(int64(len(mustFrame(b, rpc))))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(rpc); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriterBatched encodes benchBatch RPCs and flushes them in one
// stream write; one op is the whole batch.
func BenchmarkWriterBatched(b *testing.B) {
	rpc := benchRPC(b)
	w := NewWriter(io.Discard, 0)
	b.SetBytes(int64(benchBatch * len(mustFrame(b, rpc))))
	b.ReportAllocs()
	for b.Loop() {
		for range benchBatch {
			if err := w.Write(rpc); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderBatched reads benchBatch back-to-back frames; one op is the
// whole batch.
func BenchmarkReaderBatched(b *testing.B) {
	frame := mustFrame(b, benchRPC(b))
	stream := bytes.Repeat(frame, benchBatch)
	src := bytes.NewReader(stream)
	r := NewReader(src, 0)
	var rpc gossipsubv1.RPC
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		for range benchBatch {
			if err := r.ReadRPC(&rpc); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchKeys(b *testing.B) []struct {
	name string
	priv crypto.PrivKey
} {
	return []struct {
		name string
		priv crypto.PrivKey
	}{{"ed25519", ed25519Key(b, 1)}, {"rsa2048", rsaKey(b)}}
}

func BenchmarkSign(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.name, func(b *testing.B) {
			s := newSigner(b, k.priv, 1)
			msg := &gossipsubv1.Message{Data: bytes.Repeat([]byte{1}, 1024), Topic: str("t")}
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Sign(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.name, func(b *testing.B) {
			msg := &gossipsubv1.Message{Data: bytes.Repeat([]byte{1}, 1024), Topic: str("t")}
			if err := newSigner(b, k.priv, 1).Sign(msg); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1024)
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckPolicy(StrictSign, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMsgID(b *testing.B) {
	msg := benchRPC(b).Publish[0]
	for _, fn := range []struct {
		name string
		fn   MsgIDFn
	}{{"sha256data", MsgIDSHA256Data}, {"fromseqno", MsgIDFromSeqno}} {
		b.Run(fn.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg.Data)))
			b.ReportAllocs()
			for b.Loop() {
				_ = fn.fn(msg)
			}
		})
	}
}

// BenchmarkRejectBomb measures rejecting a 1 MiB frame of empty
// subscriptions or one-byte IHAVE ids (reliability case M5): the scan stops
// at the limit, before the protobuf decoder allocates anything.
func BenchmarkRejectBomb(b *testing.B) {
	subs := repeatField(0x0a, nil, (MaxFrameDefault-8)/2)
	ids := repeatField(0x12, []byte{1}, (MaxFrameDefault-16)/3)
	ihave := cat([]byte{0x0a}, uvarint(uint64(len(ids))), ids)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"subscriptions", subs},
		{"ihave-ids", cat([]byte{0x1a}, uvarint(uint64(len(ihave))), ihave)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var rpc gossipsubv1.RPC
			lim := DefaultLimits()
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := DecodeRPC(tc.body, &rpc, lim); !errors.Is(err, ErrLimitExceeded) {
					b.Fatalf("got %v, want ErrLimitExceeded", err)
				}
			}
		})
	}
}

// BenchmarkWriterEncodedMessage forwards one pre-encoded 1 KiB message to
// benchBatch peers' batches: the encode-once path of a router.
func BenchmarkWriterEncodedMessage(b *testing.B) {
	rpc := benchRPC(b)
	enc, err := proto.Marshal(rpc.Publish[0])
	if err != nil {
		b.Fatal(err)
	}
	w := NewWriter(io.Discard, 0)
	b.SetBytes(int64(benchBatch * len(AppendMessageFrame(nil, enc))))
	b.ReportAllocs()
	for b.Loop() {
		for range benchBatch {
			if err := w.WriteMessage(enc); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
