package mesh

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func sortedIDs(ids []peer.ID) []peer.ID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

func TestHandleMessage(t *testing.T) {
	tests := []struct {
		name          string
		setup         func(tp *Topic)
		size          int
		wantValidate  bool
		wantIDontWant []peer.ID
		wantDups      uint64
		wantDropped   uint64
	}{
		{name: "new small message: validate, no IDONTWANT", size: 100, wantValidate: true},
		{
			name: "new message of 1 KiB: IDONTWANT to IDONTWANT-capable mesh peers except source, before validation",
			setup: func(tp *Topic) {
				tp.peers[pid(3)].Features.IDontWant = false
			},
			size: 1024, wantValidate: true, wantIDontWant: []peer.ID{pid(1), pid(2)},
		},
		{name: "duplicate: counted, not validated again", setup: func(tp *Topic) { tp.HandleMessage(t0, pid(1), "m", msg(10)) }, size: 10, wantDups: 1},
		{name: "pending validations full: dropped, marked seen", setup: func(tp *Topic) { tp.cfg.MaxPendingValidations = 0 }, size: 10, wantDropped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 5)
			graftN(tp, 0, 4)
			if tt.setup != nil {
				tt.setup(tp)
			}
			fx := tp.HandleMessage(t0, pid(0), "m", msg(tt.size))
			if got := len(fx.Validations) == 1; got != tt.wantValidate {
				t.Errorf("validate = %v, want %v", got, tt.wantValidate)
			}
			var idw []peer.ID
			if len(fx.IDontWants) == 1 {
				idw = fx.IDontWants[0].To
			}
			if !slices.Equal(sortedIDs(idw), tt.wantIDontWant) {
				t.Errorf("IDONTWANT to %v, want %v", idw, tt.wantIDontWant)
			}
			s := tp.Stats()
			if s.Duplicates != tt.wantDups || s.ValidationDropped != tt.wantDropped {
				t.Errorf("dups %d dropped %d, want %d %d", s.Duplicates, s.ValidationDropped, tt.wantDups, tt.wantDropped)
			}
			if tt.wantDropped > 0 && !tp.HasSeen("m") {
				t.Error("message dropped at MaxPendingValidations not marked seen: its copies would each be dropped again")
			}
		})
	}
}

// TestHandleMessageDroppedAtFullValidationKeepsPromise: a message we asked
// for (IWANT) that arrives while MaxPendingValidations are pending is
// dropped, but the promise is answered: the responder kept it, and
// charging it P7 for our own overload would push honest peers negative
// (issue 11 item 12). Its copies count as duplicates.
func TestHandleMessageDroppedAtFullValidationKeepsPromise(t *testing.T) {
	tp := joinedTopic(t, testConfig(), 3)
	tp.HandleIHave(t0, pid(1), [][]byte{[]byte("m")}, 10)
	if tp.promises.len() != 1 {
		t.Fatalf("promises = %d, want 1", tp.promises.len())
	}
	tp.cfg.MaxPendingValidations = 0
	if fx := tp.HandleMessage(t0, pid(1), "m", msg(10)); len(fx.Validations) != 0 {
		t.Fatalf("validated at a full queue: %+v", fx.Validations)
	}
	fx := tp.Heartbeat(t0.Add(tp.cfg.IWantFollowupTime + time.Second))
	if len(fx.Penalties) != 0 || tp.Stats().BrokenPromises != 0 {
		t.Fatalf("promise charged after our own drop: penalties %+v", fx.Penalties)
	}
	tp.HandleMessage(t0, pid(2), "m", msg(10))
	if s := tp.Stats(); s.Duplicates != 1 || s.ValidationDropped != 1 {
		t.Fatalf("copy after the drop: duplicates %d, dropped %d; want 1, 1", s.Duplicates, s.ValidationDropped)
	}
}

func TestHandleValidated(t *testing.T) {
	// peer-000 sends m; peer-001 sends a copy during validation; peer-002 sent
	// IDONTWANT; mesh is peers 0..4; peer-005 is direct, peer-006 not meshed.
	setup := func(t *testing.T) *Topic {
		tp := joinedTopic(t, testConfig(), 7)
		graftN(tp, 0, 5)
		setDirect(tp, 5)
		tp.HandleIDontWant(t0, pid(2), [][]byte{[]byte("m")})
		tp.HandleMessage(t0, pid(0), "m", msg(10))
		tp.HandleMessage(t0, pid(1), "m", msg(10))
		return tp
	}
	t.Run("accept: deliver, cache, forward except source, copies and IDONTWANT; P2 and P3 credited", func(t *testing.T) {
		tp := setup(t)
		fx := tp.HandleValidated(t0, "m", ValidationAccept)
		if len(fx.Deliveries) != 1 || fx.Deliveries[0].ID != "m" || fx.Deliveries[0].From != pid(0) {
			t.Errorf("deliveries %+v", fx.Deliveries)
		}
		if len(fx.Sends) != 1 {
			t.Fatalf("sends %+v", fx.Sends)
		}
		if got, want := sortedIDs(fx.Sends[0].To), []peer.ID{pid(3), pid(4), pid(5)}; !slices.Equal(got, want) {
			t.Errorf("forwarded to %v, want %v", got, want)
		}
		if _, ok := tp.mcache.get("m"); !ok {
			t.Error("not cached")
		}
		c0, _ := tp.Counters(pid(0))
		c1, _ := tp.Counters(pid(1))
		if c0.FirstMessageDeliveries != 1 || c0.MeshMessageDeliveries != 1 || c1.MeshMessageDeliveries != 1 || c1.FirstMessageDeliveries != 0 {
			t.Errorf("counters %+v %+v", c0, c1)
		}
	})
	t.Run("reject: sender and copies charged P4, nothing sent", func(t *testing.T) {
		tp := setup(t)
		fx := tp.HandleValidated(t0, "m", ValidationReject)
		if !fx.Empty() {
			t.Errorf("effects %+v", fx)
		}
		c0, _ := tp.Counters(pid(0))
		c1, _ := tp.Counters(pid(1))
		if c0.InvalidMessageDeliveries != 1 || c1.InvalidMessageDeliveries != 1 {
			t.Errorf("P4 counters %v %v", c0.InvalidMessageDeliveries, c1.InvalidMessageDeliveries)
		}
		tp.HandleMessage(t0, pid(3), "m", msg(10))
		if c3, _ := tp.Counters(pid(3)); c3.InvalidMessageDeliveries != 1 {
			t.Error("copy of a rejected message not charged")
		}
	})
	t.Run("ignore: dropped silently", func(t *testing.T) {
		tp := setup(t)
		if fx := tp.HandleValidated(t0, "m", ValidationIgnore); !fx.Empty() {
			t.Errorf("effects %+v", fx)
		}
		if c0, _ := tp.Counters(pid(0)); c0.InvalidMessageDeliveries != 0 || c0.FirstMessageDeliveries != 0 {
			t.Errorf("counters changed %+v", c0)
		}
	})
	t.Run("unknown id: ignored", func(t *testing.T) {
		tp := setup(t)
		if fx := tp.HandleValidated(t0, "other", ValidationAccept); !fx.Empty() {
			t.Errorf("effects %+v", fx)
		}
	})
}

func TestMeshDeliveryWindow(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		want  float64
	}{
		{name: "copy within the window after validation: P3 credit", after: 10 * time.Millisecond, want: 1},
		{name: "copy after the window: no credit", after: 11 * time.Millisecond, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 2)
			graftN(tp, 0, 2)
			tp.HandleMessage(t0, pid(0), "m", msg(10))
			tp.HandleValidated(t0, "m", ValidationAccept)
			tp.HandleMessage(t0.Add(tt.after), pid(1), "m", msg(10))
			if c, _ := tp.Counters(pid(1)); c.MeshMessageDeliveries != tt.want {
				t.Errorf("P3 counter %v, want %v", c.MeshMessageDeliveries, tt.want)
			}
		})
	}
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name   string
		flood  bool
		joined bool
		setup  func(tp *Topic)
		want   []peer.ID
	}{
		{
			name: "flood publish: every peer at or above the publish threshold", flood: true, joined: true,
			setup: func(tp *Topic) { tp.SetScore(pid(9), -1001) },
			want:  []peer.ID{pid(0), pid(1), pid(2), pid(3), pid(4), pid(5), pid(6), pid(7), pid(8)},
		},
		{
			name: "no flood, joined: mesh and direct peers", joined: true,
			setup: func(tp *Topic) { graftN(tp, 0, 3); setDirect(tp, 8) },
			want:  []peer.ID{pid(0), pid(1), pid(2), pid(8)},
		},
		{
			name: "no flood, not joined: a fanout of D peers",
			want: nil, // checked separately: 6 random peers
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.FloodPublish = tt.flood
			tp := newTopic(t, cfg)
			withPeers(t, tp, 10)
			tp.joined = tt.joined
			if tt.setup != nil {
				tt.setup(tp)
			}
			fx := tp.Publish(t0, "m", msg(10))
			if len(fx.Sends) != 1 {
				t.Fatalf("sends %+v", fx.Sends)
			}
			got := sortedIDs(fx.Sends[0].To)
			if tt.want == nil {
				if len(got) != 6 || !slices.Equal(got, sortedIDs(tp.FanoutPeers())) {
					t.Fatalf("sent to %v, fanout %v", got, tp.FanoutPeers())
				}
			} else if !slices.Equal(got, tt.want) {
				t.Errorf("sent to %v, want %v", got, tt.want)
			}
			if !tp.HasSeen("m") {
				t.Error("own message not marked seen")
			}
			if fx := tp.Publish(t0, "m", msg(10)); len(fx.Sends) != 0 {
				t.Error("duplicate publish sent again")
			}
		})
	}
}

func TestChargeInvalid(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(tp *Topic)
		from        peer.ID
		n           int
		wantP4      float64 // the sender's InvalidMessageDeliveries after the charge
		wantCounted bool    // the sender has counters in the topic
		wantRefused uint64  // Stats.PeersRejected
	}{
		{name: "topic peer: P4 +n", from: pid(1), n: 3, wantP4: 3, wantCounted: true},
		{name: "zero: nothing charged", from: pid(1), n: 0, wantP4: 0, wantCounted: true},
		{name: "peer not in the topic: departed counters, so not subscribing does not dodge P4", from: pid(9), n: 2, wantP4: 2, wantCounted: true},
		{name: "peer table full of subscribed peers: refused and counted", setup: func(tp *Topic) { tp.cfg.MaxPeers = len(tp.peers) },
			from: pid(9), n: 2, wantRefused: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := joinedTopic(t, testConfig(), 3)
			if tt.setup != nil {
				tt.setup(tp)
			}
			tp.ChargeInvalid(t0, tt.from, tt.n)
			c, ok := tp.Counters(tt.from)
			if ok != tt.wantCounted || c.InvalidMessageDeliveries != tt.wantP4 {
				t.Errorf("counters of %s: present %v P4 %v, want %v %v", tt.from, ok, c.InvalidMessageDeliveries, tt.wantCounted, tt.wantP4)
			}
			if got := tp.Stats().PeersRejected; got != tt.wantRefused {
				t.Errorf("PeersRejected = %d, want %d", got, tt.wantRefused)
			}
			if slices.Contains(tp.TopicPeers(), pid(9)) {
				t.Error("a charged non-subscriber became a topic peer")
			}
		})
	}
	t.Run("the refused message's id stays unseen: the genuine message is still validated", func(t *testing.T) {
		tp := joinedTopic(t, testConfig(), 3)
		tp.ChargeInvalid(t0, pid(1), 1)
		if fx := tp.HandleMessage(t0, pid(2), "m", msg(10)); len(fx.Validations) != 1 {
			t.Fatalf("genuine message not validated after a charge: %+v", fx)
		}
	})
}

// TestBrokenPromisesForgivenWhileOverloaded: a promise made before the
// actor last dropped messages (Overloaded) is forgiven when it expires — we
// cannot tell the peer's failure from our own drop; one made after it is
// charged as usual.
func TestBrokenPromisesForgivenWhileOverloaded(t *testing.T) {
	tp := joinedTopic(t, testConfig(), 3)
	tp.HandleIHave(t0, pid(1), [][]byte{[]byte("early")}, 10)
	tp.Overloaded(t0.Add(time.Second))
	tp.HandleIHave(t0.Add(2*time.Second), pid(2), [][]byte{[]byte("late")}, 10)
	fx := tp.Heartbeat(t0.Add(2*time.Second + tp.cfg.IWantFollowupTime))
	if len(fx.Penalties) != 1 || fx.Penalties[0].Peer != pid(2) {
		t.Fatalf("penalties %+v, want only peer 2's promise (made after the overload)", fx.Penalties)
	}
	if s := tp.Stats(); s.PromisesForgiven != 1 || s.BrokenPromises != 1 {
		t.Fatalf("forgiven %d broken %d, want 1 and 1", s.PromisesForgiven, s.BrokenPromises)
	}
}

// TestPromisesOfADepartedPeerAreDropped: a peer that unsubscribes or
// disconnects cannot deliver what it advertised; its promises are dropped
// with it instead of being charged to its retained score (or to its next
// session) when they expire.
func TestPromisesOfADepartedPeerAreDropped(t *testing.T) {
	tp := joinedTopic(t, testConfig(), 3)
	tp.HandleIHave(t0, pid(1), [][]byte{[]byte("m")}, 10)
	tp.RemovePeer(t0, pid(1))
	fx := tp.Heartbeat(t0.Add(tp.cfg.IWantFollowupTime + time.Second))
	if len(fx.Penalties) != 0 || tp.promises.len() != 0 {
		t.Fatalf("penalties %+v, promises %d after the peer left", fx.Penalties, tp.promises.len())
	}
}

// TestForwardSkipsTheAuthor: a signed message is never forwarded back to
// the peer that wrote it (its from): go-libp2p-pubsub rejects its own
// message coming back as "self originated", counts it as an invalid delivery
// (P4: −100 with nwaku's weights) and prunes us with a 60 s backoff. Found
// by bench/reference TestInteropScoresAfterChurn.
func TestForwardSkipsTheAuthor(t *testing.T) {
	tp := joinedTopic(t, testConfig(), 4)
	graftN(tp, 0, 4)
	m := msg(10)
	m.From = []byte(pid(2))
	tp.HandleMessage(t0, pid(0), "m", m)
	fx := tp.HandleValidated(t0, "m", ValidationAccept)
	if len(fx.Sends) != 1 || !equalIDs(sortedIDs(fx.Sends[0].To), []peer.ID{pid(1), pid(3)}) {
		t.Fatalf("forwarded to %+v, want peers 1 and 3 (not the sender 0 nor the author 2)", fx.Sends)
	}
}
