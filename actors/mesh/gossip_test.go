package mesh

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

func rawIDs(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return out
}

func msg(data int) *gossipsubv1.Message {
	return &gossipsubv1.Message{Data: make([]byte, data), Topic: new("/waku/2/rs/1/0")}
}

func TestHandleIHave(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(tp *Topic)
		ids      [][]byte
		budget   int
		want     int
		dropped  uint64
		notAsked []string
	}{
		{name: "unseen ids asked", ids: rawIDs("m", 3), budget: 10, want: 3},
		{name: "seen ids not asked", setup: func(tp *Topic) { tp.Publish(t0, "m-1", msg(1)) }, ids: rawIDs("m", 3), budget: 10, want: 2, notAsked: []string{"m-1"}},
		{name: "ids already promised by another peer not asked again", setup: func(tp *Topic) { tp.HandleIHave(t0, pid(1), rawIDs("m", 1), 10) }, ids: rawIDs("m", 3), budget: 10, want: 2, notAsked: []string{"m-0"}},
		{name: "duplicate ids in one IHAVE asked once", ids: append(rawIDs("m", 2), []byte("m-0")), budget: 10, want: 2},
		{name: "budget caps the ids asked", ids: rawIDs("m", 30), budget: 10, want: 10},
		{name: "budget exhausted: ignored", ids: rawIDs("m", 3), budget: 0, want: 0},
		{name: "peer below gossip threshold: ignored", setup: func(tp *Topic) { tp.SetScore(pid(0), -101) }, ids: rawIDs("m", 3), budget: 10, want: 0},
		{name: "topic not joined: ignored", setup: func(tp *Topic) { tp.joined = false }, ids: rawIDs("m", 3), budget: 10, want: 0},
		{name: "promise table full: stop and count", setup: func(tp *Topic) { tp.promises.max = 2 }, ids: rawIDs("m", 3), budget: 10, want: 2, dropped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 2)
			if tt.setup != nil {
				tt.setup(tp)
			}
			fx := tp.HandleIHave(t0, pid(0), tt.ids, tt.budget)
			var got []MessageID
			if len(fx.IWants) == 1 {
				got = fx.IWants[0].IDs
				if fx.IWants[0].To != pid(0) {
					t.Errorf("IWANT to %s", string(fx.IWants[0].To))
				}
			}
			if len(got) != tt.want || len(fx.IWants) > 1 {
				t.Fatalf("asked %v, want %d ids", got, tt.want)
			}
			for _, id := range tt.notAsked {
				if slices.Contains(got, MessageID(id)) {
					t.Errorf("asked for %s", id)
				}
			}
			if d := tp.Stats().PromisesDropped; d != tt.dropped {
				t.Errorf("PromisesDropped = %d, want %d", d, tt.dropped)
			}
		})
	}
}

func TestIWantPromises(t *testing.T) {
	tests := []struct {
		name      string
		deliver   bool
		after     time.Duration
		wantPenal float64
	}{
		{name: "kept promise: no penalty", deliver: true, after: 4 * time.Second},
		{name: "before the follow-up time: no penalty", after: 2 * time.Second},
		{name: "broken promise after 3 s: penalty per id", after: 3 * time.Second, wantPenal: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 2)
			tp.HandleIHave(t0, pid(0), rawIDs("m", 2), 10)
			if tt.deliver {
				tp.HandleMessage(t0.Add(time.Second), pid(1), "m-0", msg(10))
				tp.HandleMessage(t0.Add(time.Second), pid(0), "m-1", msg(10))
			}
			fx := tp.Heartbeat(t0.Add(tt.after))
			var got float64
			for _, p := range fx.Penalties {
				if p.Peer != pid(0) || p.Reason != PenaltyBrokenPromise {
					t.Errorf("unexpected penalty %+v", p)
				}
				got += p.Amount
			}
			if got != tt.wantPenal {
				t.Errorf("penalty %v, want %v", got, tt.wantPenal)
			}
		})
	}
}

// TestIWantAskedAgainNextHeartbeat (ADR 0032): an id is asked of one
// advertiser per heartbeat; still missing a heartbeat later, it is asked of
// the next advertiser (the others advertise it for only HistoryGossip
// heartbeats, fewer than IWantFollowupTime), while the first peer's promise
// stands: charged if nobody delivers by its deadline, closed if anyone does.
func TestIWantAskedAgainNextHeartbeat(t *testing.T) {
	asked := func(fx *Effects, to peer.ID) bool {
		for _, w := range fx.IWants {
			if w.To == to && slices.Contains(w.IDs, MessageID("m-0")) {
				return true
			}
		}
		return false
	}
	for _, delivered := range []bool{false, true} {
		t.Run(fmt.Sprintf("delivered=%v", delivered), func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 4)
			if !asked(tp.HandleIHave(t0, pid(0), rawIDs("m", 1), 10), pid(0)) {
				t.Fatal("first advertiser not asked")
			}
			if asked(tp.HandleIHave(t0, pid(1), rawIDs("m", 1), 10), pid(1)) {
				t.Fatal("asked a second advertiser within the same heartbeat")
			}
			if fx := tp.Heartbeat(t0.Add(time.Second)); len(fx.Penalties) > 0 {
				t.Fatalf("penalty before the follow-up time: %+v", fx.Penalties)
			}
			if !asked(tp.HandleIHave(t0.Add(1100*time.Millisecond), pid(1), rawIDs("m", 1), 10), pid(1)) {
				t.Fatal("a heartbeat later the missing id was not asked of the next advertiser")
			}
			if asked(tp.HandleIHave(t0.Add(1200*time.Millisecond), pid(2), rawIDs("m", 1), 10), pid(2)) {
				t.Fatal("asked a third advertiser within the same heartbeat")
			}
			if got := tp.Stats().IWantsRepeated; got != 1 {
				t.Errorf("IWantsRepeated = %d, want 1", got)
			}
			if delivered {
				tp.HandleMessage(t0.Add(1300*time.Millisecond), pid(1), "m-0", msg(10))
			}
			fx := tp.Heartbeat(t0.Add(3 * time.Second))
			var charged []peer.ID
			for _, p := range fx.Penalties {
				charged = append(charged, p.Peer)
			}
			switch {
			case delivered && len(charged) > 0:
				t.Errorf("delivered by the second advertiser, yet charged %v", charged)
			case !delivered && !slices.Equal(charged, []peer.ID{pid(0)}):
				t.Errorf("charged %v, want the first advertiser only", charged)
			}
		})
	}
}

func TestHandleIWant(t *testing.T) {
	// peer-000 was sent IHAVE for m-0..m-2; m-2 has left the cache.
	setup := func(t *testing.T) *Topic {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 6) // all six get gossip (Dlazy)
		tp.joined = true
		for i := range 3 {
			tp.Publish(t0, MessageID(fmt.Sprintf("m-%d", i)), msg(10))
		}
		fx := tp.GetGossipPeers()
		if len(fx.IHaves) != 1 || !slices.Contains(fx.IHaves[0].To, pid(0)) {
			t.Fatalf("gossip %+v does not reach peer-000", fx.IHaves)
		}
		delete(tp.mcache.msgs, "m-2")
		return tp
	}
	tests := []struct {
		name   string
		prep   func(tp *Topic)
		ids    [][]byte
		served []MessageID
		kinds  [numIWantKinds]uint64
	}{
		{name: "advertised and cached: served", ids: rawIDs("m", 2), served: []MessageID{"m-0", "m-1"}, kinds: [numIWantKinds]uint64{IWantCorrect: 2}},
		{name: "advertised but evicted: unknown", ids: [][]byte{[]byte("m-2")}, kinds: [numIWantKinds]uint64{IWantUnknown: 1}},
		{name: "never advertised: notsent", ids: [][]byte{[]byte("x")}, kinds: [numIWantKinds]uint64{IWantNotSent: 1}},
		{
			name: "retransmission limit: second request ignored",
			prep: func(tp *Topic) { tp.HandleIWant(t0, pid(0), [][]byte{[]byte("m-0")}) },
			ids:  [][]byte{[]byte("m-0")}, kinds: [numIWantKinds]uint64{IWantCorrect: 1, IWantNotSent: 1},
		},
		{
			name: "more than 20 invalid: the rest skipped",
			ids:  append(rawIDs("bogus", 25), []byte("m-0")), kinds: [numIWantKinds]uint64{IWantNotSent: 21, IWantSkipped: 5},
		},
		{name: "peer below gossip threshold: ignored", prep: func(tp *Topic) { tp.SetScore(pid(0), -101) }, ids: rawIDs("m", 2)},
		{name: "IDONTWANT for the id: not served", prep: func(tp *Topic) { tp.HandleIDontWant(t0, pid(0), [][]byte{[]byte("m-1")}) }, ids: rawIDs("m", 2), served: []MessageID{"m-0"}, kinds: [numIWantKinds]uint64{IWantCorrect: 1, IWantUnknown: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := setup(t)
			if tt.prep != nil {
				tt.prep(tp)
			}
			fx := tp.HandleIWant(t0, pid(0), tt.ids)
			var served []MessageID
			for _, s := range fx.Sends {
				if !slices.Equal(s.To, []peer.ID{pid(0)}) {
					t.Errorf("send to %v", s.To)
				}
				served = append(served, s.ID)
			}
			if !slices.Equal(served, tt.served) {
				t.Errorf("served %v, want %v", served, tt.served)
			}
			if got := tp.Stats().ReceivedIWants; got != tt.kinds {
				t.Errorf("received iwants %v, want %v", got, tt.kinds)
			}
		})
	}
}

func TestHandleIDontWant(t *testing.T) {
	t.Run("capped per heartbeat window, rest counted", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.HandleIDontWant(t0, pid(0), rawIDs("a", 600))
		tp.HandleIDontWant(t0, pid(0), rawIDs("b", 600))
		if got := tp.Stats().IDontWantDropped; got != 200 {
			t.Fatalf("dropped %d, want 200", got)
		}
		tp.Heartbeat(t0) // new window
		tp.HandleIDontWant(t0, pid(0), rawIDs("c", 1000))
		if got := tp.Stats().IDontWantDropped; got != 200 {
			t.Fatalf("dropped %d after shift, want 200", got)
		}
	})
	t.Run("kept for HistoryLength heartbeats", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		withPeers(t, tp, 1)
		tp.HandleIDontWant(t0, pid(0), [][]byte{[]byte("x")})
		ps := tp.peers[pid(0)]
		for i := range tp.cfg.HistoryLength - 1 {
			tp.Heartbeat(t0.Add(time.Duration(i) * time.Second))
		}
		if !ps.dontWant.has("x") {
			t.Fatal("forgotten too early")
		}
		tp.Heartbeat(t0.Add(10 * time.Second))
		if ps.dontWant.has("x") {
			t.Fatal("kept longer than HistoryLength heartbeats")
		}
	})
	t.Run("unknown peer: no state", func(t *testing.T) {
		tp := newTopic(t, testConfig())
		tp.HandleIDontWant(t0, pid(5), rawIDs("a", 3))
		if len(tp.peers) != 0 {
			t.Fatal("state created")
		}
	})
}

func TestGetGossipPeers(t *testing.T) {
	tests := []struct {
		name      string
		peers     int
		setup     func(tp *Topic)
		wantPeers int
		wantIDs   int
	}{
		{name: "Dlazy peers when few are eligible", peers: 20, wantPeers: 6, wantIDs: 3},
		{name: "gossip factor when many are eligible", peers: 106, wantPeers: 25, wantIDs: 3}, // 100 eligible
		{name: "all eligible when fewer than Dlazy", peers: 9, wantPeers: 3, wantIDs: 3},
		{
			name: "never mesh, direct or low-score peers", peers: 12,
			setup: func(tp *Topic) {
				setDirect(tp, 6)
				tp.SetScore(pid(7), -101)
			},
			wantPeers: 4, wantIDs: 3,
		},
		{name: "IHAVE capped at MaxIHaveLength ids", peers: 10, setup: func(tp *Topic) { tp.cfg.MaxIHaveLength = 2 }, wantPeers: 4, wantIDs: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), tt.peers)
			graftN(tp, 0, 6)
			if tt.setup != nil {
				tt.setup(tp)
			}
			for i := range 3 {
				tp.Publish(t0, MessageID(fmt.Sprintf("m-%d", i)), msg(10))
			}
			fx := tp.GetGossipPeers()
			if len(fx.IHaves) != 1 {
				t.Fatalf("IHAVEs %+v", fx.IHaves)
			}
			ih := fx.IHaves[0]
			if len(ih.To) != tt.wantPeers || len(ih.IDs) != tt.wantIDs {
				t.Fatalf("IHAVE to %d peers with %d ids, want %d, %d", len(ih.To), len(ih.IDs), tt.wantPeers, tt.wantIDs)
			}
			for _, id := range ih.To {
				ps := tp.peers[id]
				if ps.inMesh || ps.Direct || ps.Score < tp.cfg.Thresholds.Gossip {
					t.Errorf("gossip to ineligible %s", string(id))
				}
				if ps.ihaveRounds&1 == 0 {
					t.Errorf("IHAVE round not recorded for %s", string(id))
				}
			}
			if got := tp.Stats().BroadcastIHaves; got != uint64(tt.wantPeers) {
				t.Errorf("BroadcastIHaves = %d", got)
			}
		})
	}
}

func TestIWantServesOnlyAdvertisedRounds(t *testing.T) {
	newT := func(t *testing.T) *Topic {
		tp := joinedTopic(t, testConfig(), 6)
		graftN(tp, 0, 5) // only peer-005 gets gossip
		return tp
	}
	kind := func(tp *Topic, id string) IWantKind {
		before := tp.Stats().ReceivedIWants
		tp.HandleIWant(t0, pid(5), [][]byte{[]byte(id)})
		after := tp.Stats().ReceivedIWants
		for k := range after {
			if after[k] != before[k] {
				return IWantKind(k)
			}
		}
		return -1
	}
	t.Run("cached after our last IHAVE: not advertised", func(t *testing.T) {
		tp := newT(t)
		tp.Publish(t0, "old", msg(1))
		tp.Heartbeat(t0) // IHAVE{old}
		tp.Publish(t0, "new", msg(1))
		if k := kind(tp, "new"); k != IWantNotSent {
			t.Fatalf("new: %v", k)
		}
		if k := kind(tp, "old"); k != IWantCorrect {
			t.Fatalf("old: %v", k)
		}
	})
	t.Run("advertised in an earlier round, still cached: served", func(t *testing.T) {
		tp := newT(t)
		tp.Publish(t0, "m", msg(1))
		tp.Heartbeat(t0) // advertised
		for range 3 {
			tp.Heartbeat(t0) // no longer in the gossip window, still cached
		}
		if k := kind(tp, "m"); k != IWantCorrect {
			t.Fatalf("%v", k)
		}
	})
	t.Run("left the cache but seen: unknown, not invalid", func(t *testing.T) {
		tp := newT(t)
		tp.Publish(t0, "m", msg(1))
		for range 7 {
			tp.Heartbeat(t0)
		}
		if k := kind(tp, "m"); k != IWantUnknown {
			t.Fatalf("%v", k)
		}
	})
	t.Run("window truncated to MaxIHaveLength: only the sample is served", func(t *testing.T) {
		tp := newT(t)
		tp.cfg.MaxIHaveLength = 2
		for _, id := range []MessageID{"a", "b", "c", "d"} {
			tp.Publish(t0, id, msg(1))
		}
		fx := tp.Heartbeat(t0)
		sample := fx.IHaves[0].IDs
		served := 0
		for _, id := range []string{"a", "b", "c", "d"} {
			k := kind(tp, id)
			if in := slices.Contains(sample, MessageID(id)); in != (k == IWantCorrect) {
				t.Errorf("%s in sample %v, kind %v", id, in, k)
			}
			if k == IWantCorrect {
				served++
			}
		}
		if served != 2 {
			t.Fatalf("served %d, want the 2 sampled", served)
		}
	})
}
