package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// poisonPool makes every frame buffer the Reader gives back to the pool
// hold 0xa5 from then on, for the test's duration.
func poisonPool(t *testing.T) {
	t.Helper()
	poisonReleased = func(b []byte) {
		for i := range b {
			b[i] = 0xa5
		}
	}
	t.Cleanup(func() { poisonReleased = nil })
}

// dupFrameRPC is one frame of n 1 KiB messages on one topic, every
// message's data distinct, plus a subscription and control so that the
// rest of the RPC is seen to survive the filter.
func dupFrameRPC(n int) *gossipsubv1.RPC {
	rpc := &gossipsubv1.RPC{
		Subscriptions: []*gossipsubv1.SubOpts{sub("/waku/2/rs/1/0", true)},
		Control:       &gossipsubv1.ControlMessage{Idontwant: []*gossipsubv1.ControlIDontWant{{MessageIDs: [][]byte{[]byte("x")}}}},
	}
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 1024)
		rpc.Publish = append(rpc.Publish, &gossipsubv1.Message{
			From: []byte("author"), Data: data, Seqno: []byte{0, 0, 0, byte(i)}, Topic: str("/waku/2/rs/1/0"),
		})
	}
	return rpc
}

// TestReaderFilterCopiesOutOnlyKeptMessages: the filter sees each message
// as a view into the frame buffer; what it keeps is decoded exactly as
// without a filter and stays intact after the buffer went back to the pool
// and was overwritten; what it drops is absent; and a view the filter
// (wrongly) kept shows the poison, which proves the views alias the buffer
// and that the check would catch a decoded message that did.
func TestReaderFilterCopiesOutOnlyKeptMessages(t *testing.T) {
	poisonPool(t)
	sent := dupFrameRPC(8)
	frame := mustFrame(t, sent)
	var views [][]byte
	var order []byte
	keep := func(m *gossipsubv1.Message) bool {
		views = append(views, m.Data) // not allowed to a real filter
		order = append(order, m.Data[0])
		return m.Data[0]%3 == 0
	}
	r := NewReader(bytes.NewReader(bytes.Repeat(frame, 2)), 0, WithMessageFilter(keep))
	var first, second gossipsubv1.RPC
	if err := r.ReadRPC(&first); err != nil {
		t.Fatal(err)
	}
	// The next frame reuses a pooled buffer, possibly the same one.
	if err := r.ReadRPC(&second); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(sent).(*gossipsubv1.RPC)
	want.Publish = nil
	for _, m := range sent.Publish {
		if m.Data[0]%3 == 0 {
			want.Publish = append(want.Publish, m)
		}
	}
	assertRPC(t, &first, want)
	assertRPC(t, &second, want)
	if got := fmt.Sprint(order); got != fmt.Sprint([]byte{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("filter saw messages in order %v", got)
	}
	for i, v := range views {
		if !bytes.Equal(v, bytes.Repeat([]byte{0xa5}, len(v))) {
			t.Fatalf("view %d does not alias the released frame buffer (not poisoned)", i)
		}
	}
}

// TestReaderFilterMalformedMessage: a malformed message is refused with
// the error of the decoder without filter, before the filter sees it.
func TestReaderFilterMalformedMessage(t *testing.T) {
	good := dupFrameRPC(1).Publish[0]
	gb, err := proto.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	body := protowire.AppendTag(nil, 2, protowire.BytesType)
	body = protowire.AppendBytes(body, gb)
	body = protowire.AppendTag(body, 2, protowire.BytesType)
	body = protowire.AppendBytes(body, []byte{0x12, 0x05, 0x01}) // data: 5 bytes declared, 1 present
	frame := append(protowire.AppendVarint(nil, uint64(len(body))), body...)

	seen := 0
	var rpc gossipsubv1.RPC
	errFilter := NewReader(bytes.NewReader(frame), 0, WithMessageFilter(func(*gossipsubv1.Message) bool { seen++; return true })).ReadRPC(&rpc)
	errPlain := NewReader(bytes.NewReader(frame), 0).ReadRPC(&rpc)
	if errFilter == nil || errPlain == nil || errFilter.Error() != errPlain.Error() {
		t.Fatalf("with filter: %v; without: %v", errFilter, errPlain)
	}
	if seen != 1 {
		t.Fatalf("filter saw %d messages, want the 1 before the malformed one", seen)
	}
}

// FuzzReaderFilter: with a filter, ReadRPC fails exactly as without one,
// and succeeds with the RPC decoded without filter minus the messages the
// filter dropped; the view the filter sees equals the kept message apart
// from unknown fields.
func FuzzReaderFilter(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0x5a))
	}
	f.Fuzz(func(t *testing.T, data []byte, pattern uint8) {
		var views []*gossipsubv1.Message
		i := 0
		filter := func(m *gossipsubv1.Message) bool {
			views = append(views, proto.Clone(m).(*gossipsubv1.Message))
			keep := pattern>>(i%8)&1 == 1
			i++
			return keep
		}
		plain := NewReader(bytes.NewReader(data), 512, WithLimits(fuzzLimits), WithMaxEmptyFrames(4))
		filtered := NewReader(bytes.NewReader(data), 512, WithLimits(fuzzLimits), WithMaxEmptyFrames(4), WithMessageFilter(filter))
		for range 64 {
			var want, got gossipsubv1.RPC
			errPlain := plain.ReadRPC(&want)
			views, i = views[:0], 0
			errFiltered := filtered.ReadRPC(&got)
			if (errPlain == nil) != (errFiltered == nil) || errPlain != nil && errPlain.Error() != errFiltered.Error() {
				t.Fatalf("without filter: %v; with: %v", errPlain, errFiltered)
			}
			if errPlain != nil {
				return
			}
			if len(views) != len(want.Publish) {
				t.Fatalf("filter saw %d of %d messages", len(views), len(want.Publish))
			}
			kept := want.Publish[:0:0]
			for j, m := range want.Publish {
				bare := proto.Clone(m).(*gossipsubv1.Message)
				bare.ProtoReflect().SetUnknown(nil)
				if !proto.Equal(views[j], bare) {
					t.Fatalf("view %d differs from the decoded message", j)
				}
				if pattern>>(j%8)&1 == 1 {
					kept = append(kept, m)
				}
			}
			want.Publish = kept
			if len(kept) == 0 {
				want.Publish = nil
			}
			if len(got.Publish) == 0 {
				got.Publish = nil
			}
			if !proto.Equal(&got, &want) {
				t.Fatal("filtered rpc differs from the unfiltered one minus the dropped messages")
			}
		}
	})
}

// BenchmarkReadDuplicates reads frames of 16 messages of 1 KiB of which 14
// are duplicates (about the 7.5 copies per delivery of M1 over a mesh of
// 8: most copies a node receives are duplicates) and computes every
// message's id (sha256 of data, the Waku id), as a session must to check
// its seen cache. "copy-all" decodes every message and then hashes it (the
// path without a filter); "filter" hashes the views and copies out only
// the two new messages.
func BenchmarkReadDuplicates(b *testing.B) {
	const perFrame, fresh = 16, 2
	frame := mustFrame(b, dupFrameRPC(perFrame))
	stream := bytes.Repeat(frame, benchBatch)
	isNew := func(d []byte) bool { return d[0] < fresh }
	for _, bc := range []struct {
		name   string
		filter bool
	}{{"copy-all", false}, {"filter", true}} {
		b.Run(bc.name, func(b *testing.B) {
			src := bytes.NewReader(stream)
			var opts []ReaderOption
			var ids int
			if bc.filter {
				opts = append(opts, WithMessageFilter(func(m *gossipsubv1.Message) bool {
					sum := sha256.Sum256(m.Data)
					ids += int(sum[0] & 1)
					return isNew(m.Data)
				}))
			}
			r := NewReader(src, 0, opts...)
			var rpc gossipsubv1.RPC
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(stream)
				for range benchBatch {
					if err := r.ReadRPC(&rpc); err != nil {
						b.Fatal(err)
					}
					if !bc.filter {
						for _, m := range rpc.Publish {
							sum := sha256.Sum256(m.Data)
							ids += int(sum[0] & 1)
						}
					}
				}
			}
			_ = ids
		})
	}
}
