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

// laterBootstrap reserves a UDP port on 127.0.0.1 for a bootstrap node not
// up yet, and returns its key, port and record.
func laterBootstrap(t *testing.T) (crypto.PrivKey, int, string) {
	t.Helper()
	key := newKey(t)
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	rec, _, err := enr.Build(enr.Local{Key: key, IP: net.ParseIP("127.0.0.1"), UDPPort: port})
	if err != nil {
		t.Fatal(err)
	}
	return key, port, rec
}

// waitTable polls d's table (wall time: go-ethereum's own timers) until
// ok, for at most 30 s.
func waitTable(t *testing.T, d *Discv5, what string, ok func(ids map[enode.ID]bool) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids := map[enode.ID]bool{}
		for _, n := range d.udp.AllNodes() {
			ids[n.ID()] = true
		}
		if ok(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 30 s: %s (table: %d nodes)", what, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findsAgain runs Find up to 5 times until it returns the record of id.
func findsAgain(t *testing.T, d *Discv5, id enode.ID) {
	t.Helper()
	for try := range 5 {
		recs, _, err := d.Find(context.Background(), 8, 16, 2*time.Second)
		if err != nil {
			t.Fatalf("Find: %v", err)
		}
		for _, r := range recs {
			var rec gethenr.Record
			if err := rlp.DecodeBytes(r, &rec); err != nil {
				t.Fatalf("Find returned an undecodable record: %v", err)
			}
			if n, err := enode.New(enode.ValidSchemes, &rec); err == nil && n.ID() == id {
				return
			}
		}
		if try == 4 {
			t.Fatalf("the bootstrap node was not found again in 5 Finds (table: %d nodes)", len(d.udp.AllNodes()))
		}
	}
	panic("unreachable")
}

// TestFindReseedsEmptyTableFromBootstrap: a node whose bootstrap node is
// not up yet loses it from its table at the first revalidation; once the
// bootstrap node is up, the next Find seeds the empty table with it again
// through the table's loop, rather than through go-ethereum's refresh
// goroutine (which races with the loop; see Find), and finds it. Under
// -race this is also the regression test of that race.
func TestFindReseedsEmptyTableFromBootstrap(t *testing.T) {
	bootKey, port, bootENR := laterBootstrap(t)
	d := listenLoopback(t, newKey(t), 0, bootENR)
	// The table starts with the bootstrap node; revalidation (a ping within
	// go-ethereum's 3 s fast interval, 700 ms reply timeout) drops it.
	waitTable(t, d, "the unreachable bootstrap node is dropped", func(ids map[enode.ID]bool) bool { return len(ids) == 0 })
	listenLoopback(t, bootKey, port)
	findsAgain(t, d, enode.MustParse(bootENR).ID())
}

// TestFindPutsBackAMissingBootstrapNode: a node that lost its bootstrap
// node but kept a peer that contacted it (so its table is not empty) puts
// the bootstrap node back at its next Find and finds it, instead of
// staying an island with the peers that found it (go-ethereum's refresh
// would reload it only every 15–30 min).
func TestFindPutsBackAMissingBootstrapNode(t *testing.T) {
	bootKey, port, bootENR := laterBootstrap(t)
	bootID := enode.MustParse(bootENR).ID()
	d := listenLoopback(t, newKey(t), 0, bootENR)
	waitTable(t, d, "the unreachable bootstrap node is dropped", func(ids map[enode.ID]bool) bool { return !ids[bootID] })
	// A peer that contacts d: go-ethereum's table refuses inbound contacts
	// until its initial refresh ended, and a peer with a session does not
	// introduce itself again, so a new peer every 3 s until one is kept.
	var cID enode.ID
	var last time.Time
	waitTable(t, d, "a peer that contacts us is in the table", func(ids map[enode.ID]bool) bool {
		if time.Since(last) > 3*time.Second {
			c := listenLoopback(t, newKey(t), 0, d.ENR())
			cID, last = enode.MustParse(c.ENR()).ID(), time.Now()
			_, _, _ = c.Find(context.Background(), 1, 4, 500*time.Millisecond)
		}
		return ids[cID] && !ids[bootID]
	})
	listenLoopback(t, bootKey, port)
	findsAgain(t, d, bootID)
}
