package mesh

import (
	"testing"
	"time"
)

// Protocol-abuse cases of reliability-anchors.md b.2, at the level of the topic core.

func TestAttackIWantReplay(t *testing.T) { // b.2 P1
	for _, tt := range []struct {
		name    string
		profile Profile
		want    int
	}{
		{"waku: served once (nim canAskIWant)", ProfileWaku, 1},
		{"libp2p: served GossipRetransmission = 3 times", ProfileLibp2p, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopic(t, DefaultConfig(tt.profile))
			withPeers(t, tp, 6)
			tp.joined = true
			tp.Publish(t0, "m", msg(1))
			tp.GetGossipPeers() // IHAVE{m} to all six
			served := 0
			for range 100 {
				served += len(tp.HandleIWant(t0, pid(0), [][]byte{[]byte("m")}).Sends)
			}
			if served != tt.want {
				t.Fatalf("served %d times, want %d", served, tt.want)
			}
		})
	}
}

func TestAttackIHaveFloodBrokenPromises(t *testing.T) { // b.2 P2
	tp := joinedTopic(t, testConfig(), 1)
	asked := 0
	budget := 5000 // the session's per-heartbeat id budget
	bogus := rawIDs("bogus", 5000)
	for range 100 {
		fx := tp.HandleIHave(t0, pid(0), bogus, budget)
		if len(fx.IWants) == 1 {
			budget -= len(fx.IWants[0].IDs)
			asked += len(fx.IWants[0].IDs)
		}
	}
	if asked != 5000 {
		t.Fatalf("asked %d ids, want the 5000 budget", asked)
	}
	if fx := tp.Heartbeat(t0.Add(2 * time.Second)); len(fx.Penalties) != 0 {
		t.Fatal("penalised before the follow-up time")
	}
	fx := tp.Heartbeat(t0.Add(3 * time.Second))
	if len(fx.Penalties) != 1 || fx.Penalties[0].Amount != 5000 {
		t.Fatalf("penalties %+v, want 5000 broken promises", fx.Penalties)
	}
}

func TestAttackReflectToOrigin(t *testing.T) { // b.2 P13
	tp := newTopic(t, testConfig())
	withPeers(t, tp, 8)
	tp.Join(t0)
	tp.Publish(t0, "own", msg(1))
	if fx := tp.HandleMessage(t0, pid(0), "own", msg(1)); len(fx.Validations) != 0 || len(fx.Sends) != 0 {
		t.Fatalf("our own message was processed again: %+v", fx)
	}
	src := tp.MeshPeers()[0]
	tp.HandleMessage(t0, src, "x", msg(1))
	fx := tp.HandleValidated(t0, "x", ValidationAccept)
	for _, to := range fx.Sends[0].To {
		if to == src {
			t.Fatal("forwarded back to its source")
		}
	}
}

func TestAttackDirectPeerGraft(t *testing.T) { // b.2 P14
	tp := newTopic(t, testConfig())
	withPeers(t, tp, 3)
	setDirect(tp, 0)
	tp.Join(t0)
	fx := tp.HandleGraft(t0, pid(0))
	if tp.InMesh(pid(0)) || len(fx.Penalties) != 1 {
		t.Fatalf("direct peer grafted or not penalised: %+v", fx)
	}
	tp.HandleMessage(t0, pid(1), "m", msg(1))
	fx = tp.HandleValidated(t0, "m", ValidationAccept)
	found := false
	for _, to := range fx.Sends[0].To {
		found = found || to == pid(0)
	}
	if !found {
		t.Fatal("direct peer no longer forwarded to")
	}
}

func TestAttackInvalidMessageSpam(t *testing.T) { // b.2 P6
	tp := newTopic(t, testConfig())
	withPeers(t, tp, 8)
	tp.Join(t0)
	r := newRouter(tp.Name())
	for i := range 5 {
		id := MessageID(rune('a' + i))
		tp.HandleMessage(t0, pid(0), id, msg(1))
		tp.HandleValidated(t0, id, ValidationReject)
	}
	r.rescore(tp)
	// P4 = −100 · 5² = −2500: below the publish threshold (−1000).
	if s := tp.peers[pid(0)].Score; s >= tp.cfg.Thresholds.Publish {
		t.Fatalf("score %v", s)
	}
	tp.Heartbeat(t0.Add(time.Second))
	if tp.InMesh(pid(0)) {
		t.Fatal("invalid-message spammer still in the mesh")
	}
}
