package discovery

import (
	"crypto/rand"
	"net"
	"testing"

	"github.com/ethereum/go-ethereum/p2p/enode"
	gethenr "github.com/ethereum/go-ethereum/p2p/enr"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/waku/enr"
)

// rec describes a test record.
type rec struct {
	seq     uint64
	waku2   uint8
	cluster uint16
	shards  []uint16
	noAddr  bool
	key     crypto.PrivKey
}

// makeRecord signs a record as r describes (a relay node on cluster 16,
// shard 0, at 127.0.0.1:60000, by default).
func makeRecord(t testing.TB, r rec) enr.Record {
	t.Helper()
	if r.key == nil {
		r.key = newKey(t)
	}
	l := enr.Local{Key: r.key, Seq: r.seq, Waku2: r.waku2, Cluster: r.cluster, Shards: r.shards, UDPPort: 9000}
	if !r.noAddr {
		l.IP, l.TCPPort = net.ParseIP("127.0.0.1"), 60000
	}
	text, _, err := enr.Build(l)
	if err != nil {
		t.Fatal(err)
	}
	out, err := enr.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// textOf is a record's text form.
func textOf(t testing.TB, r enr.Record) string {
	t.Helper()
	var rr gethenr.Record
	if err := rlp.DecodeBytes(r.Raw, &rr); err != nil {
		t.Fatal(err)
	}
	n, err := enode.New(enode.ValidSchemes, &rr)
	if err != nil {
		t.Fatal(err)
	}
	return n.String()
}

func relay(t testing.TB) enr.Record {
	return makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{0}})
}

func selfID(t testing.TB) peer.ID {
	t.Helper()
	id, _ := peer.IDFromPrivateKey(newKey(t))
	return id
}
