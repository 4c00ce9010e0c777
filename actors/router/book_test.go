package router

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

func testBook(maxPeers int) *Book {
	p := score.DefaultLibp2pParams()
	return NewBook(maxPeers, p, score.DefaultLibp2pThresholds())
}

func TestBookRules(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b := peer.ID("a"), peer.ID("b")
	t.Run("MaxPeers bounds the peers with a session", func(t *testing.T) {
		bk := testBook(1)
		first := bk.AddPeer(a, true)
		again := bk.AddPeer(a, true) // a known peer is not a new one
		if !first || !again || bk.AddPeer(b, false) || bk.Len() != 1 {
			t.Fatalf("len %d", bk.Len())
		}
	})
	t.Run("subscriptions are tracked per peer and returned on removal", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		bk.AddPeer(b, false)
		bk.Subscribe(a, "x", true)
		bk.Subscribe(a, "y", true)
		bk.Subscribe(b, "x", true)
		bk.Subscribe(a, "y", false)
		bk.Subscribe(peer.ID("unknown"), "x", true)
		if got, gb := bk.Topics(a), bk.Topics(b); !slices.Equal(got, []string{"x"}) || !slices.Equal(gb, []string{"x"}) {
			t.Fatalf("Topics(a) = %v, Topics(b) = %v", got, gb)
		}
		if got := bk.RemovePeer(a); !slices.Equal(got, []string{"x"}) {
			t.Fatalf("RemovePeer topics %v", got)
		}
		if bk.Has(a) || len(bk.Topics(a)) != 0 || bk.Len() != 1 {
			t.Fatal("removed peer still known")
		}
	})
	t.Run("P7 penalty lowers the score and graylists past the threshold", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		scores := map[peer.ID]float64{}
		if ch := bk.Heartbeat(t0, scores); len(ch) != 0 || scores[a] != 0 {
			t.Fatalf("fresh peer: changes %v score %v", ch, scores[a])
		}
		bk.Penalty(a, 10) // (10-0)² × -10 = -1000 < graylist -80
		ch := bk.Heartbeat(t0, scores)
		if len(ch) != 1 || !ch[0].Graylisted || scores[a] >= -80 {
			t.Fatalf("changes %v score %v", ch, scores[a])
		}
		if ch := bk.Heartbeat(t0, scores); len(ch) != 0 {
			t.Fatalf("status reported twice: %v", ch)
		}
	})
	t.Run("P7 decays once per decay interval and the graylist lifts", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		scores := map[peer.ID]float64{}
		bk.Heartbeat(t0, scores)
		bk.Penalty(a, 10)
		bk.Heartbeat(t0, scores)
		var lifted bool
		for i := 1; i <= 10 && !lifted; i++ {
			for _, c := range bk.Heartbeat(t0.Add(time.Duration(i)*time.Second), scores) {
				lifted = lifted || !c.Graylisted
			}
		}
		if !lifted {
			t.Fatalf("still graylisted, score %v", scores[a])
		}
	})
	t.Run("topic counters count for joined topics only", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		bad := score.TopicCounters{InvalidMessageDeliveries: 3}
		bk.Report("x", a, bad)
		scores := map[peer.ID]float64{}
		bk.Heartbeat(t0, scores)
		if scores[a] != 0 {
			t.Fatalf("counters of an unscored topic counted: %v", scores[a])
		}
		bk.SetTopicParams("x", score.DefaultLibp2pTopicParams())
		bk.Heartbeat(t0, scores)
		if scores[a] >= 0 {
			t.Fatalf("P4 did not lower the score: %v", scores[a])
		}
		b, _ := bk.Explain(a)
		if len(b.Topics) != 1 || b.Topics[0].P4 >= 0 {
			t.Fatalf("explain %+v", b)
		}
		bk.ForgetTopic("x")
		bk.Heartbeat(t0, scores)
		if scores[a] != 0 {
			t.Fatalf("left topic still scored: %v", scores[a])
		}
	})
	t.Run("the config's topic map is not shared", func(t *testing.T) {
		p := score.DefaultLibp2pParams("shared")
		b1 := NewBook(1, p, score.Thresholds{})
		b1.SetTopicParams("mine", score.DefaultLibp2pTopicParams())
		if _, ok := p.Topics["mine"]; ok {
			t.Fatal("Book wrote into the caller's map")
		}
	})
}

func TestBookIPColocation(t *testing.T) {
	p := score.DefaultLibp2pParams() // P6: −5 × (peers on the IP − 10)² above 10
	bk := NewBook(100, p, score.DefaultLibp2pThresholds())
	ip := netip.MustParseAddr("10.0.0.1")
	for i := range 12 {
		bk.AddPeer(peer.ID(fmt.Sprint("p", i)), false, ip)
	}
	bk.AddPeer(peer.ID("alone"), false, netip.MustParseAddr("10.0.0.2"))
	scores := map[peer.ID]float64{}
	bk.Heartbeat(time.Unix(0, 0), scores)
	if want := -5.0 * 2 * 2; scores["p0"] != want || scores["alone"] != 0 {
		t.Fatalf("colocated %v (want %v), alone %v (want 0)", scores["p0"], want, scores["alone"])
	}
	bk.RemovePeer("p1")
	bk.RemovePeer("p2")
	bk.Heartbeat(time.Unix(0, 0), scores)
	if scores["p0"] != 0 {
		t.Fatalf("after two left, P6 still %v", scores["p0"])
	}
	if b, _ := bk.Explain("p0"); b.P6 != 0 {
		t.Fatalf("explain P6 %v", b.P6)
	}
}

func TestDefaultConfigExemptsLoopbackFromColocation(t *testing.T) {
	cfg := DefaultConfig(wire.ProfileWaku)
	bk := NewBook(100, cfg.Score, cfg.Mesh.Thresholds)
	for i := range 20 {
		bk.AddPeer(peer.ID(fmt.Sprint("p", i)), false, netip.MustParseAddr("127.0.0.1"))
	}
	scores := map[peer.ID]float64{}
	bk.Heartbeat(time.Unix(0, 0), scores)
	if scores["p0"] != 0 {
		t.Fatalf("20 loopback peers score %v, want 0", scores["p0"])
	}
}

// TestBookRetainScore: a disconnected peer's score is kept for RetainScore
// (the spec's retain_score; nim-libp2p#402), so a peer graylisted by P7
// that reconnects is still graylisted instead of starting again at 0
// (issue 11 item 3). Retained peers do not count against MaxPeers; they are
// bounded by MaxPeers themselves, the one that left first forgotten first.
func TestBookRetainScore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, b, c := peer.ID("a"), peer.ID("b"), peer.ID("c")
	retain := score.DefaultLibp2pParams().RetainScore
	scores := map[peer.ID]float64{}
	t.Run("P7 and graylisting survive a reconnect within RetainScore", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		bk.Subscribe(a, "x", true)
		bk.Penalty(a, 10)
		bk.Heartbeat(t0, scores)
		if gray, _ := bk.Graylisted(a); !gray {
			t.Fatal("not graylisted after P7 10")
		}
		bk.Disconnect(a, t0)
		if bk.Has(a) || bk.Len() != 0 || bk.Retained() != 1 || len(bk.Topics(a)) != 0 {
			t.Fatalf("after disconnect: has %v len %d retained %d topics %v", bk.Has(a), bk.Len(), bk.Retained(), bk.Topics(a))
		}
		bk.Heartbeat(t0.Add(500*time.Millisecond), scores) // no decay interval yet: P7 as it was
		if !bk.AddPeer(a, false) {
			t.Fatal("reconnect refused")
		}
		bk.Heartbeat(t0.Add(500*time.Millisecond), scores) // no decay interval yet: P7 as it was
		if gray, sc := bk.Graylisted(a); !gray || sc >= -80 {
			t.Fatalf("after reconnect within RetainScore: graylisted %v, score %v (want the retained < -80)", gray, sc)
		}
	})
	t.Run("forgotten after RetainScore", func(t *testing.T) {
		bk := testBook(10)
		bk.AddPeer(a, true)
		bk.Penalty(a, 10)
		bk.Disconnect(a, t0)
		bk.Heartbeat(t0.Add(retain), scores)
		if bk.Retained() != 0 || bk.GraylistedPeers() != 0 {
			t.Fatalf("retained %d graylisted %d after RetainScore", bk.Retained(), bk.GraylistedPeers())
		}
		bk.AddPeer(a, true)
		bk.Heartbeat(t0.Add(retain), scores)
		if scores[a] != 0 {
			t.Fatalf("score %v after RetainScore, want a fresh 0", scores[a])
		}
	})
	t.Run("retained peers bounded by MaxPeers, not counted in it", func(t *testing.T) {
		bk := testBook(1)
		bk.AddPeer(a, true)
		bk.Disconnect(a, t0)
		if !bk.AddPeer(b, true) {
			t.Fatal("a retained peer took the only connected slot")
		}
		bk.Disconnect(b, t0.Add(time.Second))
		if bk.Retained() != 1 || !slices.Equal(bk.PeerIDs(), []peer.ID{b}) {
			t.Fatalf("retained %d: %v, want only b (a left first)", bk.Retained(), bk.PeerIDs())
		}
		bk.AddPeer(c, true)
		if bk.AddPeer(a, true) {
			t.Fatal("MaxPeers 1 connected, second accepted")
		}
	})
	t.Run("RetainScore 0 forgets at once", func(t *testing.T) {
		p := score.DefaultLibp2pParams()
		p.RetainScore = 0
		bk := NewBook(10, p, score.DefaultLibp2pThresholds())
		bk.AddPeer(a, true)
		bk.Disconnect(a, t0)
		if bk.Retained() != 0 || len(bk.PeerIDs()) != 0 {
			t.Fatalf("retained %d", bk.Retained())
		}
	})
}

// TestBookReportedCounters (ADR 0029): topic reports carry changes only.
// The book derives P1's time in mesh from the graft time and the topic's
// report time, exactly what a full report carried; a peer the book forgot
// gets its counters back from the mirror when it returns; a full report
// restarts the mirror and a removed entry leaves the peer's last counters.
func TestBookReportedCounters(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a, c := peer.ID("a"), peer.ID("c")
	tp := score.TopicParams{TopicWeight: 1, TimeInMeshWeight: 0.01, TimeInMeshQuantum: time.Second, TimeInMeshCap: 3600,
		InvalidMessageDeliveriesWeight: -1, InvalidMessageDeliveriesDecay: 0.5}
	graft := t0.Add(-30 * time.Second)
	setup := func() *Book {
		bk := testBook(10)
		bk.SetTopicParams("x", tp)
		bk.AddPeer(a, true)
		return bk
	}
	t.Run("P1 from the graft time and the report's now", func(t *testing.T) {
		for _, at := range []time.Duration{0, time.Second, 10 * time.Second, 2 * time.Hour} {
			full, delta := setup(), setup()
			now := t0.Add(at)
			// Before: every heartbeat's report carried the refreshed time in mesh.
			full.Report("x", a, score.TopicCounters{InMesh: true, GraftTime: graft, MeshTime: now.Sub(graft)})
			// Now: the counters once, then only the report time advances.
			delta.ReportTopic("x", t0, true)
			delta.Report("x", a, score.TopicCounters{InMesh: true, GraftTime: graft, MeshTime: t0.Sub(graft)})
			delta.ReportTopic("x", now, false)
			sf, sd := map[peer.ID]float64{}, map[peer.ID]float64{}
			full.Heartbeat(now.Add(time.Second), sf)
			delta.Heartbeat(now.Add(time.Second), sd)
			if sf[a] != sd[a] || sd[a] <= 0 {
				t.Fatalf("at +%v: score %v from changes, want %v as from full reports", at, sd[a], sf[a])
			}
		}
	})
	t.Run("a forgotten peer gets its counters back from the mirror", func(t *testing.T) {
		bk := setup()
		bk.ReportTopic("x", t0, true)
		bk.Report("x", c, score.TopicCounters{InvalidMessageDeliveries: 2}) // c has no session yet
		bk.AddPeer(c, false)
		scores := map[peer.ID]float64{}
		bk.Heartbeat(t0, scores)
		if scores[c] != -4 {
			t.Fatalf("returning peer's score %v, want -4 (P4 2² × -1)", scores[c])
		}
		bk.Forget("x", c) // the topic forgot c: its last counters stay with it
		bk.Heartbeat(t0, scores)
		if scores[c] != -4 {
			t.Fatalf("score after the topic forgot c %v, want -4 still", scores[c])
		}
		bk.RemovePeer(c)
		bk.AddPeer(c, false)
		bk.Heartbeat(t0, scores)
		if scores[c] != 0 {
			t.Fatalf("score of c back after removal %v, want 0 (the topic holds nothing of it)", scores[c])
		}
		bk.ReportTopic("x", t0, false)
		bk.Report("x", c, score.TopicCounters{InvalidMessageDeliveries: 1})
		bk.ReportTopic("x", t0, true) // a restarted topic actor, holding nothing of c
		bk.RemovePeer(c)
		bk.AddPeer(c, false)
		bk.Heartbeat(t0, scores)
		if scores[c] != 0 {
			t.Fatalf("score of c after a full report without it %v, want 0", scores[c])
		}
	})
}
