package metadata

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// field builds a protobuf field by hand, to test encodings our own
// generated code would never write (another implementation's).
func field(num protowire.Number, typ protowire.Type, v []byte) []byte {
	return append(protowire.AppendTag(nil, num, typ), v...)
}

func varint(v uint64) []byte { return protowire.AppendVarint(nil, v) }

func packed(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, v)
	}
	return protowire.AppendBytes(nil, b)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestEncodeWritesWhatNwakuWrites(t *testing.T) {
	got := Encode(Info{Cluster: 1, HasCluster: true, Shards: []uint32{0, 3}})
	// cluster (1), shards unpacked in field 2, packed in field 3.
	want := cat(field(1, protowire.VarintType, varint(1)),
		field(2, protowire.VarintType, varint(0)), field(2, protowire.VarintType, varint(3)),
		field(3, protowire.BytesType, packed(0, 3)))
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode = %x, want %x", got, want)
	}
}

// Each implementation's encoding decodes to the same Info.
func TestDecodeEveryImplementationsEncoding(t *testing.T) {
	want := Info{Cluster: 1, HasCluster: true, Shards: []uint32{2, 5}}
	cases := []struct {
		name string
		in   []byte
		want Info
	}{
		{"nwaku: field 2 unpacked and field 3 packed", Encode(want), want},
		{"go-waku: field 3 packed only", cat(field(1, protowire.VarintType, varint(1)), field(3, protowire.BytesType, packed(5, 2))), want},
		{"js-waku: field 2 unpacked only", cat(field(1, protowire.VarintType, varint(1)),
			field(2, protowire.VarintType, varint(2)), field(2, protowire.VarintType, varint(5))), want},
		{"field 2 packed", cat(field(1, protowire.VarintType, varint(1)), field(2, protowire.BytesType, packed(2, 5))), want},
		{"field 3 wins over field 2", cat(field(1, protowire.VarintType, varint(1)),
			field(2, protowire.VarintType, varint(9)), field(3, protowire.BytesType, packed(2, 5, 5))), want},
		{"js-waku's empty shard list", cat(field(1, protowire.VarintType, varint(1))), Info{Cluster: 1, HasCluster: true}},
		{"cluster 0 is a cluster", cat(field(1, protowire.VarintType, varint(0))), Info{HasCluster: true}},
		{"no cluster", field(3, protowire.BytesType, packed(1)), Info{Shards: []uint32{1}}},
		{"empty message", nil, Info{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decode(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Cluster != c.want.Cluster || got.HasCluster != c.want.HasCluster || !slices.Equal(got.Shards, c.want.Shards) {
				t.Fatalf("Decode = %v, want %v", got, c.want)
			}
		})
	}
}

func TestDecodeRefusesWhatCannotBeAShard(t *testing.T) {
	many := make([]uint64, 1025)
	for i := range many {
		many[i] = uint64(i % 1024)
	}
	cases := []struct {
		name, want string
		in         []byte
	}{
		{"shard 1024", "not below 1024", field(3, protowire.BytesType, packed(1024))},
		{"too many shards", "more than 1024", field(3, protowire.BytesType, packed(many...))},
		{"not protobuf", "metadata", []byte{0xff, 0xff}},
		{"too large", "more than", make([]byte, MaxMessageSize+1)},
	}
	for _, c := range cases {
		if _, err := Decode(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestFraming(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteMessage(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMessage(bufio.NewReader(bytes.NewReader(buf.Bytes())), 16)
	if err != nil || string(got) != "hello" {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(buf.Bytes())), 4); err == nil || !strings.Contains(err.Error(), "more than 4") {
		t.Fatalf("oversize message: %v", err)
	}
	if _, err := ReadMessage(bufio.NewReader(bytes.NewReader(buf.Bytes()[:3])), 16); err == nil {
		t.Fatal("truncated message read")
	}
}

func TestQueueBoundsExchanges(t *testing.T) {
	q := newQueue(1, 1)
	if start, _ := q.connected("a"); !start {
		t.Fatal("first peer not started")
	}
	if start, dropped := q.connected("a"); start || dropped {
		t.Fatal("a peer in flight started again")
	}
	if start, dropped := q.connected("b"); start || dropped {
		t.Fatal("second peer not queued")
	}
	if _, dropped := q.connected("c"); !dropped {
		t.Fatal("peer beyond the queue not dropped")
	}
	if next, ok := q.done("a"); !ok || next != "b" {
		t.Fatalf("next after a = %q %v, want b", next, ok)
	}
	if _, ok := q.done("a"); ok {
		t.Fatal("a finished twice")
	}
	if _, ok := q.done("b"); ok || len(q.inFlight) != 0 {
		t.Fatalf("queue not empty: %+v", q)
	}
}
