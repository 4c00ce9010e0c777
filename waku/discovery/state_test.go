package discovery

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/peerexchange"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testConfig() Config {
	c := DefaultConfig()
	c.Cluster, c.Shards, c.Discv5 = 16, []uint16{0, 1}, true
	return c
}

func newCore(t *testing.T, c Config) *Discovery {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return New(c, selfID(t), rand.New(rand.NewPCG(1, 2)))
}

func tallyOf(eff Effects, source, result string) int {
	for _, tl := range eff.Tallies {
		if tl.Source == source && tl.Result == result {
			return tl.N
		}
	}
	return 0
}

// One row per rule of Check (nwaku's shardingPredicate and RFC 31).
func TestCheck(t *testing.T) {
	d := newCore(t, testConfig())
	boot := makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{5}})
	d.bootstrap[boot.PeerID] = true
	self := relay(t)
	d.self = self.PeerID
	for _, tt := range []struct {
		name string
		r    enr.Record
		want string
	}{
		{"a relay on our cluster sharing a shard is a candidate", relay(t), ""},
		{"sharing one shard of several is enough", makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{1, 7}}), ""},
		{"our own record", self, ResultSelf},
		{"waku2 absent or zero: not a Waku node (RFC 31)", makeRecord(t, rec{cluster: 16, shards: []uint16{0}}), ResultNotWaku},
		{"another cluster is never a candidate", makeRecord(t, rec{waku2: enr.CapRelay, cluster: 2, shards: []uint16{0}}), ResultOtherCluster},
		{"no rs while we relay shards (nwaku's containsShard)", makeRecord(t, rec{waku2: enr.CapRelay}), ResultNoShards},
		{"none of our shards", makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{4}}), ResultOtherShards},
		{"a bootstrap record is spared the shard check", boot, ""},
		{"nothing to dial", makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{0}, noAddr: true}), ResultNoAddress},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.Check(tt.r); got != tt.want {
				t.Fatalf("Check = %q, want %q", got, tt.want)
			}
		})
	}
	// Without shards of our own, only the cluster (when the record says
	// one) is checked.
	c := testConfig()
	c.Shards = nil
	d = newCore(t, c)
	if got := d.Check(makeRecord(t, rec{waku2: enr.CapRelay})); got != "" {
		t.Fatalf("no shards either side: %q", got)
	}
	if got := d.Check(makeRecord(t, rec{waku2: enr.CapRelay, cluster: 3, shards: []uint16{0}})); got != ResultOtherCluster {
		t.Fatalf("other cluster without our shards: %q", got)
	}
}

func TestRecordsAreHandedToThePeerManager(t *testing.T) {
	d := newCore(t, testConfig())
	d.Round(t0, nil)
	r := relay(t)
	eff := d.LookupDone(1, [][]byte{r.Raw, []byte("not a record")}, 3)
	if len(eff.AddPeers) != 1 || tallyOf(eff, SourceDiscv5, ResultAdded) != 1 || tallyOf(eff, SourceDiscv5, ResultInvalid) != 1 {
		t.Fatalf("effects %+v", eff)
	}
	add := eff.AddPeers[0]
	if peer.ID(add.GetPeer().GetPeerId()) != r.PeerID || add.GetOrigin() != peerv1.Origin_ORIGIN_DISCV5 ||
		len(add.GetPeer().GetAddresses()) != 1 || !bytes.Equal(add.GetPeer().GetAddresses()[0], r.Addrs[0].Bytes()) ||
		len(add.GetPeer().GetShards()) != 1 || add.GetPeer().GetShards()[0] != 0 {
		t.Fatalf("AddPeer %v", add)
	}
	// Found again: handed again (the peer manager may have forgotten it),
	// counted as known.
	d.Round(t0.Add(time.Minute), &pmv1.Status{OutRelayTarget: 10})
	eff = d.LookupDone(2, [][]byte{r.Raw}, 3)
	if len(eff.AddPeers) != 1 || tallyOf(eff, SourceDiscv5, ResultKnown) != 1 {
		t.Fatalf("known record: %+v", eff)
	}
	// Other-cluster records never reach the peer manager.
	d.Round(t0.Add(2*time.Minute), &pmv1.Status{OutRelayTarget: 10})
	other := makeRecord(t, rec{waku2: enr.CapRelay, cluster: 2, shards: []uint16{0}})
	eff = d.LookupDone(3, [][]byte{other.Raw}, 3)
	if len(eff.AddPeers) != 0 || tallyOf(eff, SourceDiscv5, ResultOtherCluster) != 1 {
		t.Fatalf("other cluster: %+v", eff)
	}
	if found, servable := d.Found(); found != 1 || servable != 1 {
		t.Fatalf("found %d servable %d", found, servable)
	}
}

func TestNewerSequenceReplacesTheKeptRecord(t *testing.T) {
	d := newCore(t, testConfig())
	k := newKey(t)
	old := makeRecord(t, rec{seq: 1, waku2: enr.CapRelay, cluster: 16, shards: []uint16{0}, key: k})
	newer := makeRecord(t, rec{seq: 2, waku2: enr.CapRelay, cluster: 16, shards: []uint16{1}, key: k})
	d.PXDone([][]byte{newer.Raw})
	eff := d.PXDone([][]byte{old.Raw})
	if got := d.found[newer.PeerID].rec.Seq; got != 2 {
		t.Fatalf("kept seq %d, want 2", got)
	}
	// What the peer manager is told is the kept (newer) record.
	if sh := eff.AddPeers[0].GetPeer().GetShards(); len(sh) != 1 || sh[0] != 1 {
		t.Fatalf("handed shards %v of the older record", sh)
	}
}

func TestPeerExchangeRecordsAreNotServedUntilDiscv5FindsThem(t *testing.T) {
	d := newCore(t, testConfig())
	r := relay(t)
	eff := d.PXDone([][]byte{r.Raw})
	if len(eff.AddPeers) != 1 || eff.AddPeers[0].GetOrigin() != peerv1.Origin_ORIGIN_PX || tallyOf(eff, SourcePX, ResultAdded) != 1 {
		t.Fatalf("px record: %+v", eff)
	}
	if recs, st, _ := d.ServePX(selfID(t), 10); st != peerexchange.StatusSuccess || len(recs) != 0 {
		t.Fatalf("served %d records of peer exchange, status %d", len(recs), st)
	}
	d.Round(t0, nil)
	d.LookupDone(1, [][]byte{r.Raw}, 1)
	if recs, _, _ := d.ServePX(selfID(t), 10); len(recs) != 1 {
		t.Fatalf("served %d records after discv5 found it", len(recs))
	}
}

func TestMaxFoundForgetsTheLeastRecentlySeen(t *testing.T) {
	c := testConfig()
	c.MaxFound = 2
	d := newCore(t, c)
	a, b, x := relay(t), relay(t), relay(t)
	d.Round(t0, nil)
	d.LookupDone(1, [][]byte{a.Raw, b.Raw}, 2)
	d.now = t0.Add(time.Second)
	d.PXDone([][]byte{a.Raw}) // a seen again: b is now the oldest
	d.now = t0.Add(2 * time.Second)
	d.PXDone([][]byte{x.Raw})
	if _, ok := d.found[b.PeerID]; ok || len(d.found) != 2 || len(d.ids) != 2 {
		t.Fatalf("kept %v", d.ids)
	}
}

func TestHungry(t *testing.T) {
	for _, tt := range []struct {
		name        string
		st          *pmv1.Status
		wantHungry  bool
		wantMissing int
	}{
		{"no status: not hungry", nil, false, 0},
		{"outbound target reached", &pmv1.Status{OutRelayPeers: 10, OutRelayTarget: 10}, false, 0},
		{"missing 4, 3 candidates", &pmv1.Status{OutRelayPeers: 6, OutRelayTarget: 10, OutsideBackoff: 3}, true, 4},
		{"missing 4, 4 candidates", &pmv1.Status{OutRelayPeers: 6, OutRelayTarget: 10, OutsideBackoff: 4}, false, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, m := Hungry(tt.st)
			if h != tt.wantHungry || m != tt.wantMissing {
				t.Fatalf("Hungry = %v, %d", h, m)
			}
		})
	}
}

func TestRoundsStartLookups(t *testing.T) {
	hungry := &pmv1.Status{OutRelayTarget: 4}
	full := &pmv1.Status{OutRelayTarget: 4, OutRelayPeers: 4}
	c := testConfig()
	c.RefreshRounds = 3
	d := newCore(t, c)
	eff := d.Round(t0, full)
	if eff.Lookup == nil || eff.Lookup.Round != 1 || eff.Lookup.N != c.CandidatesPerRound {
		t.Fatalf("first round: %+v", eff.Lookup)
	}
	if eff := d.Round(t0.Add(5*time.Second), hungry); eff.Lookup != nil {
		t.Fatal("a second lookup while one runs")
	}
	d.LookupDone(1, nil, 0)
	if eff := d.Round(t0.Add(10*time.Second), full); eff.Lookup != nil {
		t.Fatal("lookup when not hungry before RefreshRounds")
	}
	if eff := d.Round(t0.Add(15*time.Second), hungry); eff.Lookup == nil || eff.Lookup.Round != 4 {
		t.Fatalf("hungry: %+v", eff.Lookup)
	}
	// A late answer of an older round changes nothing.
	if eff := d.LookupDone(1, [][]byte{relay(t).Raw}, 0); len(eff.AddPeers) != 0 || !d.lookupInFlight {
		t.Fatal("stale round taken")
	}
	d.LookupDone(4, nil, 0)
	for i := range 2 {
		if eff := d.Round(t0.Add(time.Duration(20+5*i)*time.Second), full); eff.Lookup != nil {
			t.Fatalf("round %d: lookup before RefreshRounds", d.round)
		}
	}
	if eff := d.Round(t0.Add(30*time.Second), full); eff.Lookup == nil {
		t.Fatal("no refresh after RefreshRounds")
	}
	// Without discv5, no lookup ever.
	c.Discv5 = false
	if eff := newCore(t, c).Round(t0, hungry); eff.Lookup != nil {
		t.Fatal("lookup without discv5")
	}
}

func TestRoundsAskThePeerExchangeNodeWhenHungry(t *testing.T) {
	c := testConfig()
	c.Discv5 = false
	c.PeerExchangeNode = "/ip4/127.0.0.1/tcp/60000/p2p/16Uiu2HAmG7ivSKKkNyh3Eq5wrUBmdrvqtF6iFYkDFhYrK98mNgKW"
	d := newCore(t, c)
	if eff := d.Round(t0, &pmv1.Status{OutRelayTarget: 4, OutRelayPeers: 4}); eff.RequestPX != nil {
		t.Fatal("asked while not hungry")
	}
	eff := d.Round(t0, &pmv1.Status{OutRelayTarget: 10, OutRelayPeers: 1})
	if eff.RequestPX == nil || eff.RequestPX.Node != c.PeerExchangeNode || eff.RequestPX.N != 18 {
		t.Fatalf("hungry: %+v", eff.RequestPX)
	}
	if eff := d.Round(t0.Add(time.Minute), &pmv1.Status{OutRelayTarget: 10}); eff.RequestPX != nil {
		t.Fatal("asked again while a request runs")
	}
	d.PXDone(nil)
	if eff := d.Round(t0.Add(c.PXInterval-time.Second), &pmv1.Status{OutRelayTarget: 10}); eff.RequestPX != nil {
		t.Fatal("asked again before PXInterval")
	}
	if eff := d.Round(t0.Add(c.PXInterval), &pmv1.Status{OutRelayTarget: 2, OutRelayPeers: 1}); eff.RequestPX == nil || eff.RequestPX.N != 5 {
		t.Fatalf("at least nwaku's 5: %+v", eff.RequestPX)
	}
}

func TestServePX(t *testing.T) {
	c := testConfig()
	c.ServePerRound = 2
	d := newCore(t, c)
	requester := relay(t)
	var raws [][]byte
	for range 70 {
		raws = append(raws, relay(t).Raw)
	}
	raws = append(raws, requester.Raw)
	d.Round(t0, nil)
	d.LookupDone(1, raws, 71)
	recs, st, _ := d.ServePX(requester.PeerID, 100)
	if st != peerexchange.StatusSuccess || len(recs) != peerexchange.MaxResponseRecords {
		t.Fatalf("served %d, status %d", len(recs), st)
	}
	for _, r := range recs {
		if bytes.Equal(r, requester.Raw) {
			t.Fatal("served the requester its own record")
		}
	}
	if recs, _, _ := d.ServePX(requester.PeerID, 3); len(recs) != 3 {
		t.Fatalf("asked 3, served %d", len(recs))
	}
	if _, st, _ := d.ServePX(requester.PeerID, 3); st != peerexchange.StatusTooManyRequests {
		t.Fatalf("budget spent: status %d", st)
	}
	d.Round(t0.Add(5*time.Second), nil)
	if _, st, _ := d.ServePX(requester.PeerID, 3); st != peerexchange.StatusSuccess {
		t.Fatalf("budget refilled: status %d", st)
	}
	c.PeerExchange = false
	if _, st, _ := newCore(t, c).ServePX(requester.PeerID, 3); st != peerexchange.StatusServiceUnavailable {
		t.Fatalf("server off: status %d", st)
	}
}

func TestStartHandsBootstrapRecordsOver(t *testing.T) {
	c := testConfig()
	boot := makeRecord(t, rec{waku2: enr.CapRelay, cluster: 16, shards: []uint16{9}})
	other := makeRecord(t, rec{waku2: enr.CapRelay, cluster: 2, shards: []uint16{0}})
	c.BootstrapNodes = []string{textOf(t, boot), textOf(t, other)}
	eff := newCore(t, c).Start(t0)
	if len(eff.AddPeers) != 1 || peer.ID(eff.AddPeers[0].GetPeer().GetPeerId()) != boot.PeerID ||
		tallyOf(eff, SourceBootstrap, ResultOtherCluster) != 1 {
		t.Fatalf("start: %+v", eff)
	}
}

// New candidates for a peer manager that misses outbound peers are dialed
// at once (a kick), not at its next tick; known ones, or a peer manager
// with enough, kick nothing.
func TestKickWhenHungryAndNew(t *testing.T) {
	d := newCore(t, testConfig())
	r := relay(t)
	d.Round(t0, &pmv1.Status{OutRelayTarget: 3})
	if eff := d.LookupDone(1, [][]byte{r.Raw}, 1); !eff.Kick {
		t.Fatal("no kick for a new candidate while hungry")
	}
	if eff := d.PXDone([][]byte{r.Raw}); eff.Kick {
		t.Fatal("kick for a known candidate")
	}
	d.Round(t0.Add(time.Minute), &pmv1.Status{OutRelayTarget: 3, OutRelayPeers: 3})
	if eff := d.PXDone([][]byte{relay(t).Raw}); eff.Kick {
		t.Fatal("kick while not hungry")
	}
}
