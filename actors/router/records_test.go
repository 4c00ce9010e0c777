package router

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
)

func loopback(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// After identify, the record book holds the peer's signed record as an
// envelope that verifies and names the peer: what our PRUNE peer exchange
// attaches.
func TestRecordBookKeepsIdentifysSignedRecords(t *testing.T) {
	a, b := loopback(t), loopback(t)
	book, stop, err := startRecordBook(a, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	var raw []byte
	for raw == nil {
		select {
		case <-ctx.Done():
			t.Fatal("no signed record for the peer after identify")
		case <-tk.C:
			raw = book.Get(b.ID())
		}
	}
	_, rec, err := record.ConsumeEnvelope(raw, peer.PeerRecordEnvelopeDomain)
	if err != nil {
		t.Fatalf("record does not verify: %v", err)
	}
	if pr, ok := rec.(*peer.PeerRecord); !ok || pr.PeerID != b.ID() || len(pr.Addrs) == 0 {
		t.Fatalf("record %+v, want %s with addresses", rec, b.ID())
	}
	if got := book.Get(peer.ID("unknown")); got != nil {
		t.Fatalf("record for an unknown peer: %x", got)
	}
}

// At capacity the oldest record goes, and the eviction is counted.
func TestRecordBookIsBounded(t *testing.T) {
	evictions := 0
	b := &recordBook{max: 2, recs: map[peer.ID][]byte{}, evicted: func() { evictions++ }}
	b.put("p1", []byte("1"))
	b.put("p2", []byte("2"))
	b.put("p2", []byte("2'")) // an update is not a new entry
	b.put("p3", []byte("3"))
	if b.Get("p1") != nil || string(b.Get("p2")) != "2'" || string(b.Get("p3")) != "3" || evictions != 1 {
		t.Fatalf("p1=%q p2=%q p3=%q evictions=%d; want p1 evicted once", b.Get("p1"), b.Get("p2"), b.Get("p3"), evictions)
	}
}
