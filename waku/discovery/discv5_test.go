package discovery

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/p2p/enode"
	gethenr "github.com/ethereum/go-ethereum/p2p/enr"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/peermesh/peermesh/waku/enr"
)

// listenLoopback starts discv5 on 127.0.0.1:port (0: a free one) with a
// relay record of cluster 16, shard 0.
func listenLoopback(t *testing.T, key crypto.PrivKey, port int, boot ...string) *Discv5 {
	t.Helper()
	d, err := ListenDiscv5(Discv5Config{
		Key: key, ListenIP: net.ParseIP("127.0.0.1"), UDPPort: port, BootstrapNodes: boot,
		Record: enr.Local{Key: key, IP: net.ParseIP("127.0.0.1"), TCPPort: 60000, Waku2: enr.CapRelay, Cluster: 16, Shards: []uint16{0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// TestFindReseedsEmptyTableFromBootstrap: a node whose bootstrap node is
// not up yet loses it from its table at the first revalidation; once the
// bootstrap node is up, the next Find seeds the empty table with it again
// through the table's loop, rather than through go-ethereum's refresh
// goroutine (which races with the loop; see Find), and finds it. Under
// -race this is also the regression test of that race.
func TestFindReseedsEmptyTableFromBootstrap(t *testing.T) {
	bootKey := newKey(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	bootENR, _, err := enr.Build(enr.Local{Key: bootKey, IP: net.ParseIP("127.0.0.1"), UDPPort: port})
	if err != nil {
		t.Fatal(err)
	}
	d := listenLoopback(t, newKey(t), 0, bootENR)
	// The table starts with the bootstrap node; revalidation (a ping within
	// go-ethereum's 3 s fast interval, 700 ms reply timeout) drops it.
	deadline := time.Now().Add(30 * time.Second)
	for len(d.udp.AllNodes()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the unreachable bootstrap node is still in the table after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	listenLoopback(t, bootKey, port)
	bootID := enode.MustParse(bootENR).ID()
	for try := 0; ; try++ {
		recs, _, err := d.Find(context.Background(), 1, 16, 2*time.Second)
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		for _, r := range recs {
			var rec gethenr.Record
			if err := rlp.DecodeBytes(r, &rec); err != nil {
				t.Fatalf("Find returned an undecodable record: %v", err)
			}
			if n, err := enode.New(enode.ValidSchemes, &rec); err == nil && n.ID() == bootID {
				return
			}
		}
		if try == 4 {
			t.Fatalf("the bootstrap node was not found again from an empty table in 5 Finds (table: %d nodes)", len(d.udp.AllNodes()))
		}
	}
}
