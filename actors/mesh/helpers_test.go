package mesh

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pid(i int) peer.ID { return peer.ID(fmt.Sprintf("peer-%03d", i)) }

// testConfig is the waku profile with P3 and P3b on (the strict option;
// nwaku's defaults leave them off), so the mesh-delivery rules are exercised.
func testConfig() Config {
	c := DefaultConfig(ProfileWaku)
	c.Score = score.StrictWakuTopicParams()
	c.EnablePX = true
	return c
}

func newTopic(tb testing.TB, cfg Config) *Topic {
	tb.Helper()
	tp, err := NewTopic("/waku/2/rs/1/0", cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		tb.Fatal(err)
	}
	return tp
}

// withPeers adds n inbound peers peer-000.. with score 0 and full features.
func withPeers(tb testing.TB, tp *Topic, n int) {
	tb.Helper()
	for i := range n {
		if !tp.AddPeer(t0, PeerAttrs{ID: pid(i), Features: Features{PX: true, Backoff: true, IDontWant: true}}) {
			tb.Fatalf("AddPeer %d refused", i)
		}
	}
}

// joinedTopic returns a topic with n peers (see withPeers), marked joined
// without building a mesh, so each test sets the mesh it needs.
func joinedTopic(tb testing.TB, cfg Config, n int) *Topic {
	tb.Helper()
	tp := newTopic(tb, cfg)
	withPeers(tb, tp, n)
	tp.joined = true
	return tp
}

// graftN puts peers [from, to) in the mesh directly.
func graftN(tp *Topic, from, to int) {
	for i := from; i < to; i++ {
		tp.grafted(t0, tp.peers[pid(i)])
	}
}

func prunedTo(fx *Effects) []peer.ID {
	var out []peer.ID
	for _, p := range fx.Prunes {
		out = append(out, p.To)
	}
	slices.Sort(out)
	return out
}

func reasons(fx *Effects) []PenaltyReason {
	var out []PenaltyReason
	for _, p := range fx.Penalties {
		out = append(out, p.Reason)
	}
	return out
}

func equalIDs(a, b []peer.ID) bool { return slices.Equal(a, b) }

// setDirect marks peer i as direct through AddPeer, as the adapter would.
func setDirect(tp *Topic, i int) {
	a := tp.peers[pid(i)].PeerAttrs
	a.Direct = true
	tp.AddPeer(t0, a)
}
