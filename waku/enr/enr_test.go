package enr

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func secpKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestBuildAndParseRoundTrip(t *testing.T) {
	k := secpKey(t)
	ws := ma.StringCast("/ip4/192.0.2.7/tcp/8000/ws")
	text, dropped, err := Build(Local{Key: k, Seq: 3, IP: net.ParseIP("192.0.2.7"), TCPPort: 60000,
		Multiaddrs: []ma.Multiaddr{ws}, Waku2: CapRelay, Cluster: 1, Shards: []uint16{0, 3, 7}})
	if err != nil || dropped != 0 {
		t.Fatalf("Build: %v, dropped %d", err, dropped)
	}
	if !strings.HasPrefix(text, Prefix) {
		t.Fatalf("text %q lacks %q", text, Prefix)
	}
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	want := []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.7/tcp/60000"), ws}
	if r.PeerID != id || r.Seq != 3 || r.Waku2 != CapRelay || !r.HasShards || r.Cluster != 1 ||
		!slices.Equal(r.Shards, []uint16{0, 3, 7}) || len(r.Addrs) != 2 || !r.Addrs[0].Equal(want[0]) || !r.Addrs[1].Equal(want[1]) {
		t.Fatalf("parsed %+v", r)
	}
}

// A record is at most 300 bytes: multiaddrs that do not fit are dropped,
// last first.
func TestBuildDropsMultiaddrsBeyond300Bytes(t *testing.T) {
	var addrs []ma.Multiaddr
	for i := range 12 {
		addrs = append(addrs, ma.StringCast("/dns4/node-"+strings.Repeat("x", 20)+string(rune('a'+i))+".example.org/tcp/443/wss"))
	}
	text, dropped, err := Build(Local{Key: secpKey(t), IP: net.ParseIP("192.0.2.7"), TCPPort: 1, Multiaddrs: addrs, Waku2: CapRelay})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if dropped == 0 || len(r.Addrs) != 1+len(addrs)-dropped {
		t.Fatalf("dropped %d, record has %d addresses", dropped, len(r.Addrs))
	}
}

func TestBuildNeedsSecp256k1(t *testing.T) {
	k, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	if _, _, err := Build(Local{Key: k}); err != ErrKeyType {
		t.Fatalf("Ed25519 key: %v, want ErrKeyType", err)
	}
}

// The entry encodings, byte for byte as RFC 31 and relay-sharding give them.
func TestEntryEncodings(t *testing.T) {
	if got := hex.EncodeToString(EncodeShards(1, []uint16{0, 3})); got != "0001020000"+"0003" {
		t.Fatalf("rs = %s", got)
	}
	c, s, err := DecodeShards(EncodeShards(16, []uint16{1023}))
	if err != nil || c != 16 || !slices.Equal(s, []uint16{1023}) {
		t.Fatalf("rs round trip: %d %v %v", c, s, err)
	}
	for _, bad := range [][]byte{{0, 1}, {0, 1, 2, 0, 0}} {
		if _, _, err := DecodeShards(bad); err == nil {
			t.Errorf("DecodeShards(%x) succeeded", bad)
		}
	}
	rsv := make([]byte, 130)
	rsv[1] = 1
	rsv[2] = 0b00001001 // shards 0 and 3
	rsv[2+127] = 0x80   // shard 1023
	c, s, err = DecodeShardsBits(rsv)
	if err != nil || c != 1 || !slices.Equal(s, []uint16{0, 3, 1023}) {
		t.Fatalf("rsv: %d %v %v", c, s, err)
	}
	a, b := ma.StringCast("/ip4/1.2.3.4/tcp/443/wss"), ma.StringCast("/dns4/x.org/tcp/8000/ws")
	enc := EncodeMultiaddrs([]ma.Multiaddr{a, b})
	if int(enc[0])<<8|int(enc[1]) != len(a.Bytes()) {
		t.Fatalf("multiaddrs length prefix %x", enc[:2])
	}
	got, err := DecodeMultiaddrs(enc)
	if err != nil || len(got) != 2 || !got[0].Equal(a) || !got[1].Equal(b) {
		t.Fatalf("multiaddrs round trip: %v %v", got, err)
	}
	if _, err := DecodeMultiaddrs(enc[:len(enc)-1]); err == nil {
		t.Fatal("truncated multiaddrs decoded")
	}
}

// EIP-778's example record parses (no Waku entries: no capabilities, no
// shards, no TCP address).
func TestParseEIP778Example(t *testing.T) {
	r, err := Parse("enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8")
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 || r.Waku2 != 0 || r.HasShards || len(r.Addrs) != 0 || r.PeerID == "" {
		t.Fatalf("parsed %+v", r)
	}
}

// Parsing verifies the signature.
func TestParseRejectsTampering(t *testing.T) {
	text, _, err := Build(Local{Key: secpKey(t), IP: net.ParseIP("10.0.0.1"), TCPPort: 60000, Waku2: CapRelay, Cluster: 1, Shards: []uint16{2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(text[:len(text)-4] + "AAAA"); err == nil {
		t.Fatal("a record with a broken signature parsed")
	}
	if _, err := Parse("enode://abc"); err == nil {
		t.Fatal("an enode URL parsed as a record")
	}
}

// A discv5 record carries udp; its RLP form (what peer exchange carries)
// reads back to the same record, and go-ethereum sees the UDP endpoint.
func TestBuildWithUDPAndDecodeRLP(t *testing.T) {
	k := secpKey(t)
	text, _, err := Build(Local{Key: k, Seq: 9, IP: net.ParseIP("192.0.2.7"), TCPPort: 60000, UDPPort: 9000,
		Waku2: CapRelay, Cluster: 16, Shards: []uint16{2}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := enode.Parse(enode.ValidSchemes, text)
	if err != nil {
		t.Fatal(err)
	}
	if ap, ok := n.UDPEndpoint(); !ok || ap.Port() != 9000 {
		t.Fatalf("udp endpoint %v %v", ap, ok)
	}
	raw, err := rlp.EncodeToBytes(n.Record())
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRLP(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	if r.PeerID != id || r.Seq != 9 || r.Cluster != 16 || !slices.Equal(r.Shards, []uint16{2}) || len(r.Addrs) != 1 {
		t.Fatalf("decoded %+v", r)
	}
	if _, err := DecodeRLP(append(raw, make([]byte, MaxRecordSize)...)); err == nil {
		t.Fatal("decoded a record over 300 bytes")
	}
	raw[len(raw)-1] ^= 1 // breaks the signature or the encoding
	if _, err := DecodeRLP(raw); err == nil {
		t.Fatal("decoded a tampered record")
	}
}

// A record go-waku (v0.10, commit 84a4b1b) wrote for a relay node on
// cluster 1, shard 0, listening on 127.0.0.1:61001 — taken from its
// /debug/v1/info in our interop run.
func TestParseGoWakuRecord(t *testing.T) {
	const goWaku = "enr:-Jq4QI11DRocyLGLM2UK0cd8zmNbrVJTgmya7-hrXCuyYLhEJYYqeoTd_dvcjGC9ve6DUd5sSULGExw9UdJ7H1HFE2WGAaJH62c7gmlkgnY0gmlwhH8AAAGCcnOFAAEBAACJc2VjcDI1NmsxoQNcDT76SKIsuoUJqvcAAwxtcUJyeeGMWxHQbKUGZ2NtD4N0Y3CC7kmFd2FrdTIB"
	r, err := Parse(goWaku)
	if err != nil {
		t.Fatal(err)
	}
	if r.PeerID.String() != "16Uiu2HAmJrKaE36pXZM4ZY3b8xbGXzAXWnrYT4NzWdxqCBURCrce" || r.Waku2 != CapRelay || !r.HasShards ||
		r.Cluster != 1 || !slices.Equal(r.Shards, []uint16{0}) || len(r.Addrs) != 1 || r.Addrs[0].String() != "/ip4/127.0.0.1/tcp/61001" {
		t.Fatalf("parsed %+v", r)
	}
}
