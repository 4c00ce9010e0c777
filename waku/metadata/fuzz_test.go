package metadata

import (
	"bufio"
	"bytes"
	"slices"
	"testing"
)

// FuzzDecode: any bytes from a peer decode to an Info whose shards are
// sorted, unique and below MaxShards, or to an error; never a panic. A
// decoded Info re-encodes to bytes that decode to the same Info.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(Info{Cluster: 1, HasCluster: true, Shards: []uint32{0, 1, 7}}))
	f.Add(Encode(Info{}))
	f.Add([]byte{0x08, 0x01, 0x10, 0x00, 0x10, 0x03})
	f.Add([]byte{0x1a, 0x02, 0x00, 0x03})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Decode(b)
		if err != nil {
			return
		}
		if !slices.IsSorted(info.Shards) || len(slices.Compact(slices.Clone(info.Shards))) != len(info.Shards) {
			t.Fatalf("shards %v not sorted and unique", info.Shards)
		}
		again, err := Decode(Encode(info))
		if err != nil || again.Cluster != info.Cluster || again.HasCluster != info.HasCluster || !slices.Equal(again.Shards, info.Shards) {
			t.Fatalf("re-encoded %v decodes to %v, %v", info, again, err)
		}
	})
}

// FuzzReadMessage: a stream of any bytes yields a message of at most the
// limit or an error.
func FuzzReadMessage(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMessage(&buf, Encode(Info{Cluster: 1, HasCluster: true}))
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x05, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadMessage(bufio.NewReader(bytes.NewReader(b)), MaxMessageSize)
		if err == nil && len(m) > MaxMessageSize {
			t.Fatalf("read %d bytes, limit %d", len(m), MaxMessageSize)
		}
	})
}
