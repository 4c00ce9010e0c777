package session

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

func testState() *State {
	cfg := DefaultConfig()
	cfg.MaxIHaveMessages = 2
	cfg.MaxIHaveLength = 5
	cfg.MaxIDontWantPerHeartbeat = 3
	cfg.IDontWantTTL = 2
	cfg.AdvertisedTTL = 2
	return NewState(cfg)
}

func ids(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, v := range s {
		out[i] = []byte(v)
	}
	return out
}

func send(prio pubsubv1.Priority, msgIDs ...string) *pubsubv1.SendToPeer {
	cmd := &pubsubv1.SendToPeer{Priority: prio}
	for i, id := range msgIDs {
		cmd.Messages = append(cmd.Messages, &pubsubv1.IdentifiedMessage{Id: []byte(id), Message: testMsg(i, 10)})
	}
	return cmd
}

func idontwant(s ...string) []*gossipsubv1.ControlIDontWant {
	return []*gossipsubv1.ControlIDontWant{{MessageIDs: ids(s...)}}
}

func ihave(topic string, s ...string) *gossipsubv1.ControlIHave {
	return &gossipsubv1.ControlIHave{TopicID: proto.String(topic), MessageIDs: ids(s...)}
}

func TestStateIDontWant(t *testing.T) {
	t.Run("IDONTWANT cancels a queued send", func(t *testing.T) {
		s := testState()
		s.Enqueue(send(pFwd, "a", "b"), true)
		c := s.HandleIDontWant(idontwant("a"))
		if c.Cancelled != 1 || s.Queue.Has("a") || !s.Queue.Has("b") {
			t.Fatalf("cancelled=%d has(a)=%v has(b)=%v", c.Cancelled, s.Queue.Has("a"), s.Queue.Has("b"))
		}
	})
	t.Run("a message the peer does not want is not queued", func(t *testing.T) {
		s := testState()
		s.HandleIDontWant(idontwant("a"))
		c := s.Enqueue(send(pFwd, "a"), true)
		if c.DontWantSkipped != 1 || s.Queue.Has("a") {
			t.Fatalf("skipped=%d queued=%v", c.DontWantSkipped, s.Queue.Has("a"))
		}
	})
	t.Run("IDONTWANT ids over the per-heartbeat budget are refused", func(t *testing.T) {
		s := testState()
		c := s.HandleIDontWant(idontwant("a", "b", "c", "d"))
		if c.OverBudget != 1 || s.DontWant("d") {
			t.Fatalf("overBudget=%d dontWant(d)=%v", c.OverBudget, s.DontWant("d"))
		}
		s.Heartbeat()
		if c := s.HandleIDontWant(idontwant("d")); c.OverBudget != 0 {
			t.Fatal("budget not reset by the heartbeat")
		}
	})
	t.Run("IDONTWANT expires after IDontWantTTL heartbeats", func(t *testing.T) {
		s := testState()
		s.HandleIDontWant(idontwant("a"))
		s.Heartbeat()
		if !s.DontWant("a") {
			t.Fatal("expired after one heartbeat")
		}
		s.Heartbeat()
		if s.DontWant("a") {
			t.Fatal("still remembered after IDontWantTTL heartbeats")
		}
	})
	t.Run("IDONTWANT is not sent on a stream without the feature", func(t *testing.T) {
		s := testState()
		c := s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Idontwant: idontwant("a")}}, false)
		if c.Unsupported != 1 || !s.Queue.Empty() {
			t.Fatalf("unsupported=%d queue empty=%v", c.Unsupported, s.Queue.Empty())
		}
	})
}

func TestStateGossip(t *testing.T) {
	t.Run("IHAVE over the per-heartbeat entry budget is refused", func(t *testing.T) {
		s := testState()
		acc, refused := s.AcceptIHave([]*gossipsubv1.ControlIHave{ihave("t", "1"), ihave("t", "2"), ihave("t", "3")})
		if len(acc) != 2 || refused != 1 {
			t.Fatalf("accepted %d refused %d, want 2 and 1", len(acc), refused)
		}
	})
	t.Run("IHAVE ids over the id budget are truncated", func(t *testing.T) {
		s := testState()
		acc, refused := s.AcceptIHave([]*gossipsubv1.ControlIHave{ihave("t", "1", "2", "3", "4", "5", "6", "7")})
		if len(acc) != 1 || len(acc[0].MessageIDs) != 5 || refused != 2 {
			t.Fatalf("accepted %v refused %d", acc, refused)
		}
		s.Heartbeat()
		if acc, _ := s.AcceptIHave([]*gossipsubv1.ControlIHave{ihave("t", "8")}); len(acc) != 1 {
			t.Fatal("budget not reset by the heartbeat")
		}
	})
	t.Run("IWANT is routed to the topic the id was advertised in; others are unknown", func(t *testing.T) {
		s := testState()
		s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{ihave("a", "x"), ihave("b", "y")}}}, true)
		out := map[string][][]byte{}
		unknown := s.RouteIWant([]*gossipsubv1.ControlIWant{{MessageIDs: ids("x", "y", "z")}}, out).Unknown
		if unknown != 1 || len(out["a"]) != 1 || len(out["b"]) != 1 {
			t.Fatalf("unknown=%d routes=%v", unknown, out)
		}
	})
	t.Run("IWANT ids past MaxInvalidIWant unknown ones are skipped (nim: 20)", func(t *testing.T) {
		s := testState()
		s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{ihave("a", "x")}}}, true)
		var bogus []string
		for i := range 30 {
			bogus = append(bogus, fmt.Sprintf("bogus-%d", i))
		}
		out := map[string][][]byte{}
		r := s.RouteIWant([]*gossipsubv1.ControlIWant{{MessageIDs: ids("x")}, {MessageIDs: ids(bogus...)}, {MessageIDs: ids("x")}}, out)
		if r.Unknown != 20 || r.Skipped != 11 || len(out["a"]) != 1 {
			t.Fatalf("%+v routes %v: want 20 unknown looked up, the other 10 and the last entry skipped, x routed once", r, out)
		}
		if !r.Abusive {
			t.Fatal("cut off after asking 31 unknown ids with 1 advertised: want Abusive")
		}
	})
	t.Run("a peer asking only for ids we advertised is never abusive, even when they expired", func(t *testing.T) {
		s := testState()
		var adv []string
		for i := range 40 {
			adv = append(adv, fmt.Sprintf("adv-%d", i))
		}
		s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{ihave("a", adv...)}}}, true)
		s.Heartbeat()
		s.Heartbeat() // expired (AdvertisedTTL 2): every IWANT for them comes too late
		r := s.RouteIWant([]*gossipsubv1.ControlIWant{{MessageIDs: ids(adv[:30]...)}}, map[string][][]byte{})
		if r.Skipped != 10 || r.Abusive {
			t.Fatalf("%+v: want the RPC cut off (10 skipped) but not abusive: 30 asked of 40 advertised", r)
		}
	})
	t.Run("advertised ids expire after AdvertisedTTL heartbeats", func(t *testing.T) {
		s := testState()
		s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{ihave("a", "x")}}}, true)
		s.Heartbeat()
		s.Heartbeat()
		if r := s.RouteIWant([]*gossipsubv1.ControlIWant{{MessageIDs: ids("x")}}, map[string][][]byte{}); r.Unknown != 1 || r.Abusive {
			t.Fatal("advertised id still answerable after its TTL")
		}
	})
	t.Run("IHAVE goes to the gossip lane, GRAFT to the control lane", func(t *testing.T) {
		s := NewState(Config{MaxQueueBytes: 1 << 20, MaxAdvertised: 10})
		s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{ihave("a", "x")}, Graft: graft("a").Graft}}, true)
		if s.Queue.lanes[lane(pCtl)].empty() || s.Queue.lanes[lane(pGsp)].empty() {
			t.Fatal("want GRAFT in the control lane and IHAVE in the gossip lane")
		}
	})
}

// TestStatePublishAge: own publishes keep no age limit unless
// MaxPublishAge sets one, while forwards expire at MaxForwardAge (ADR 0024).
func TestStatePublishAge(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name       string
		publishAge time.Duration
		want       Drops
	}{
		{"default: no limit", 0, Drops{0, 0, 1, 0}},
		{"MaxPublishAge 2s", 2 * time.Second, Drops{0, 1, 1, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(Config{MaxQueueBytes: 1 << 20, MaxForwardAge: 300 * time.Millisecond, MaxPublishAge: tt.publishAge})
			s.Expire(t0)
			s.Enqueue(&pubsubv1.SendToPeer{Priority: pPub, Messages: []*pubsubv1.IdentifiedMessage{{Id: []byte("p"), Message: testMsg(0, 10)}}}, true)
			s.Enqueue(&pubsubv1.SendToPeer{Priority: pFwd, Messages: []*pubsubv1.IdentifiedMessage{{Id: []byte("f"), Message: testMsg(1, 10)}}}, true)
			if got := s.Expire(t0.Add(time.Minute)).Expired; got != tt.want {
				t.Fatalf("expired %v after a minute, want %v", got, tt.want)
			}
		})
	}
}

func TestStateElidesRedundantSends(t *testing.T) {
	// queuedIDontWant lists the IDONTWANT ids waiting in the control lane.
	queuedIDontWant := func(s *State) []string {
		rpc := &gossipsubv1.RPC{}
		s.Queue.PopBatch(rpc, 1<<20)
		var out []string
		for _, e := range rpc.GetControl().GetIdontwant() {
			for _, id := range e.GetMessageIDs() {
				out = append(out, string(id))
			}
		}
		return out
	}
	tests := []struct {
		name       string
		msgs       []string   // messages in the command
		dontWant   [][]string // IDONTWANT entries in the command
		wantQueued []string
		wantElided int
	}{
		{name: "IDONTWANT alone is queued", dontWant: [][]string{{"a"}}, wantQueued: []string{"a"}},
		{name: "IDONTWANT for a message sent in the same command is left out", msgs: []string{"a"},
			dontWant: [][]string{{"a"}}, wantElided: 1},
		{name: "only the ids being sent are left out", msgs: []string{"a"},
			dontWant: [][]string{{"b"}, {"a"}, {"c", "a"}}, wantQueued: []string{"b", "c"}, wantElided: 2},
		{name: "other ids are kept", msgs: []string{"x"}, dontWant: [][]string{{"a", "b"}}, wantQueued: []string{"a", "b"}},
		{name: "a topic actor's batch (more messages than withoutSentScan) is looked up in a set",
			msgs:     []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"},
			dontWant: [][]string{{"m0"}, {"x"}, {"m9", "y"}, {"m5"}}, wantQueued: []string{"x", "y"}, wantElided: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testState()
			cmd := send(pFwd, tt.msgs...)
			if tt.dontWant != nil {
				cmd.Control = &gossipsubv1.ControlMessage{}
				for _, e := range tt.dontWant {
					cmd.Control.Idontwant = append(cmd.Control.Idontwant, idontwant(e...)...)
				}
			}
			c := s.Enqueue(cmd, true)
			if got := queuedIDontWant(s); c.IDontWantElided != tt.wantElided || !slices.Equal(got, tt.wantQueued) {
				t.Fatalf("elided %d queued %q, want %d %q", c.IDontWantElided, got, tt.wantElided, tt.wantQueued)
			}
		})
	}
	t.Run("a copy from the peer cancels our queued send of it", func(t *testing.T) {
		s := testState()
		s.Enqueue(send(pFwd, "a", "b"), true)
		if c := s.Received("a"); c.CancelledByCopy != 1 || s.Queue.Has("a") || !s.Queue.Has("b") {
			t.Fatalf("cancelled %d has(a)=%v has(b)=%v", c.CancelledByCopy, s.Queue.Has("a"), s.Queue.Has("b"))
		}
		if c := s.Received("z"); c.CancelledByCopy != 0 {
			t.Fatal("cancelled a send that was not queued")
		}
		if s.DontWant("a") {
			t.Fatal("a copy must not cost an IDONTWANT-set entry")
		}
	})
}

// TestStateCongestion: the queue turns congested once its oldest forward or
// own publish waited longer than CongestedAge or forwards expired, and
// healthy again once nothing waited more than half of it (ADR 0030).
func TestStateCongestion(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type step struct {
		at            time.Duration // since t0: Expire, then Congestion
		push          pubsubv1.Priority
		pop           int // frames the writer takes, one item each
		want, changed bool
	}
	for _, tt := range []struct {
		name  string
		age   time.Duration
		steps []step
	}{
		{"an old forward congests, draining heals", 100 * time.Millisecond, []step{
			{push: pFwd},
			{at: 100 * time.Millisecond},
			{at: 101 * time.Millisecond, want: true, changed: true},
			{at: 150 * time.Millisecond, push: pFwd, want: true},
			{at: 160 * time.Millisecond, pop: 2, changed: true},
		}},
		{"hysteresis: between half and the limit keeps the state", 100 * time.Millisecond, []step{
			{push: pPub},
			{at: 40 * time.Millisecond, push: pFwd},
			{at: 101 * time.Millisecond, want: true, changed: true},
			{at: 101 * time.Millisecond, pop: 1, want: true}, // the forward waited 61 ms
			{at: 140 * time.Millisecond, want: true},
			{at: 140 * time.Millisecond, pop: 1, changed: true},
			{at: 140 * time.Millisecond, push: pFwd},
			{at: 200 * time.Millisecond}, // 60 ms: healthy stays healthy
		}},
		{"expired forwards congest", 100 * time.Millisecond, []step{
			{push: pFwd},
			{at: 400 * time.Millisecond, want: true, changed: true}, // expired (300 ms) and gone
			{at: 401 * time.Millisecond, want: false, changed: true},
		}},
		{"control and gossip never count", 100 * time.Millisecond, []step{
			{push: pCtl},
			{push: pGsp},
			{at: time.Second},
		}},
		{"CongestedAge 0: never", 0, []step{
			{push: pFwd},
			{at: 250 * time.Millisecond},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState(Config{MaxQueueBytes: 1 << 20, MaxForwardAge: 300 * time.Millisecond, CongestedAge: tt.age})
			n := 0
			for i, st := range tt.steps {
				exp := s.Expire(t0.Add(st.at))
				for range st.pop {
					s.Queue.PopBatch(&gossipsubv1.RPC{}, 1)
				}
				switch st.push {
				case pCtl:
					s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Graft: []*gossipsubv1.ControlGraft{{}}}}, true)
				case pGsp:
					s.Enqueue(&pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{ihave("t", "x")}}}, true)
				case pFwd, pPub:
					n++
					s.Enqueue(send(st.push, fmt.Sprint("m", n)), true)
				}
				on, changed := s.Congestion(exp.Expired[lane(pFwd)])
				if on != st.want || changed != st.changed || s.Congested() != on {
					t.Fatalf("step %d: Congestion = %v, changed %v; want %v, %v", i, on, changed, st.want, st.changed)
				}
			}
		})
	}
}
