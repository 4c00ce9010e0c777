package enr

import (
	"crypto/rand"
	"net"
	"testing"

	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
)

// FuzzParse: any text parses to a verified record with a peer id, or to an
// error; never a panic.
func FuzzParse(f *testing.F) {
	k, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	text, _, err := Build(Local{Key: k, IP: net.ParseIP("192.0.2.1"), TCPPort: 60000,
		Multiaddrs: []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/tcp/8000/ws")}, Waku2: CapRelay, Cluster: 1, Shards: []uint16{0, 1}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(text)
	f.Add("enr:")
	f.Add("enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.PeerID == "" {
			t.Fatal("parsed record without a peer id")
		}
	})
}

// FuzzDecodeEntries: the Waku entry decoders take any bytes.
func FuzzDecodeEntries(f *testing.F) {
	f.Add(EncodeShards(1, []uint16{0, 5}))
	f.Add(EncodeMultiaddrs([]ma.Multiaddr{ma.StringCast("/dns4/a.org/tcp/443/wss")}))
	f.Add(make([]byte, 130))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, s, err := DecodeShards(b); err == nil {
			if got := EncodeShards(c, s); string(got) != string(b) {
				t.Fatalf("rs %x re-encodes to %x", b, got)
			}
		}
		_, _, _ = DecodeShardsBits(b)
		if addrs, err := DecodeMultiaddrs(b); err == nil {
			if got := EncodeMultiaddrs(addrs); string(got) != string(b) {
				t.Fatalf("multiaddrs %x re-encode to %x", b, got)
			}
		}
	})
}

// FuzzDecodeRLP: any bytes (a record from peer exchange) decode to a
// verified record with a peer id, or to an error; never a panic.
func FuzzDecodeRLP(f *testing.F) {
	k, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	text, _, err := Build(Local{Key: k, IP: net.ParseIP("192.0.2.1"), TCPPort: 60000, UDPPort: 9000, Waku2: CapRelay, Cluster: 1, Shards: []uint16{0}})
	if err != nil {
		f.Fatal(err)
	}
	n, err := enode.Parse(enode.ValidSchemes, text)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := rlp.EncodeToBytes(n.Record())
	f.Add(raw)
	f.Add([]byte{0xc0})
	f.Add([]byte{0xf8, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRLP(b)
		if err == nil && r.PeerID == "" {
			t.Fatal("decoded record without a peer id")
		}
	})
}
