package mesh

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// tickAt sends the topic a Tick carrying now (heartbeat clock).
func (h *topicHarness) tickAt(now time.Time) {
	h.router.Send(h.topic, &heartbeatv1.Tick{Now: timestamppb.New(now)})
}

// drainPeers discards what the peer probes received so far.
func (h *topicHarness) drainPeers() {
	synctest.Wait()
	for _, p := range h.peers {
		for {
			if _, ok := p.Next(time.Millisecond); !ok {
				break
			}
		}
	}
}

// lastReport returns the last TopicReport the router probe got, skipping
// everything else.
func lastReport(t *testing.T, p *actortest.Probe) *pubsubv1.TopicReport {
	t.Helper()
	synctest.Wait()
	var last *pubsubv1.TopicReport
	for {
		r, ok := p.Next(time.Millisecond)
		if !ok {
			break
		}
		if rep, isRep := r.Message.(*pubsubv1.TopicReport); isRep {
			last = rep
		}
	}
	if last == nil {
		t.Fatal("no TopicReport")
	}
	return last
}

// retiredAndTerminated waits for the topic's TopicRetired (to its parent,
// forwarded) and its Terminated (to the watching probe), in either order:
// the first is a user message, the second a system message.
func (h *topicHarness) retiredAndTerminated(t *testing.T) *pubsubv1.TopicRetired {
	t.Helper()
	var retired *pubsubv1.TopicRetired
	terminated := false
	for retired == nil || !terminated {
		r, ok := h.router.Next(3 * time.Second)
		if !ok {
			t.Fatalf("retired %v, terminated %v", retired, terminated)
		}
		switch m := r.Message.(type) {
		case *pubsubv1.TopicRetired:
			retired = m
		case *actor.Terminated:
			terminated = terminated || m.GetWho().GetId() == h.topic.GetId()
		}
	}
	return retired
}

// TestTopicActorLeaveKeepsBackoffsUntilRetired: issue 11 item 4. Leave
// prunes the mesh with the unsubscribe backoff and the actor stays; a
// re-Join within the backoff does not graft the peers it just pruned (they
// would PRUNE us and charge P7). Once FanoutTTL has passed since the Leave
// the actor reports itself idle; RetireTopic stops it and TopicRetired
// carries its unexpired backoffs to the router.
func TestTopicActorLeaveKeepsBackoffsUntilRetired(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := actorCfg()
		cfg.UnsubscribeBackoff = 2 * time.Minute // longer than FanoutTTL (1 min)
		t0 := time.Now()
		h := newTopicHarnessWith(t, cfg, 2, func(d *Deps) { d.Now = t0 })
		h.subscribeAll()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		h.drainPeers()
		h.router.Request(h.topic, &pubsubv1.Leave{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Left{Topic: actorTopic})
		h.drainPeers()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		h.tickAt(t0.Add(time.Second))
		synctest.Wait()
		for id, p := range h.peers {
			if r, ok := p.Next(time.Millisecond); ok {
				t.Fatalf("re-Join within the unsubscribe backoff sent %s %v", id, r.Message)
			}
		}
		h.router.Request(h.topic, &pubsubv1.Leave{Topic: actorTopic})
		actortest.Fish(h.router, func(*pubsubv1.Left) bool { return true })
		h.tickAt(t0.Add(30 * time.Second))
		if rep := lastReport(t, h.router); rep.GetIdle() {
			t.Fatal("idle 30 s after the Leave, want FanoutTTL (60 s)")
		}
		h.tickAt(t0.Add(62 * time.Second))
		if rep := lastReport(t, h.router); !rep.GetIdle() {
			t.Fatal("not idle FanoutTTL after the Leave")
		}
		h.router.Watch(h.topic)
		h.router.Send(h.topic, &pubsubv1.RetireTopic{})
		retired := h.retiredAndTerminated(t)
		if len(retired.GetBackoffs()) != 2 {
			t.Fatalf("retired with %d backoffs, want the 2 peers pruned at the Leave", len(retired.GetBackoffs()))
		}
		for _, b := range retired.GetBackoffs() {
			if !b.GetUntil().AsTime().After(t0.Add(62 * time.Second)) {
				t.Fatalf("backoff %v already over", b.GetUntil().AsTime())
			}
		}
	})
}

// TestTopicActorRestoresBackoffs: a new actor of a topic starts with the
// backoffs the router kept (Deps.Backoffs): no GRAFT to those peers until
// they end.
func TestTopicActorRestoresBackoffs(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		t0 := time.Now()
		until := t0.Add(90 * time.Second)
		h := newTopicHarnessWith(t, actorCfg(), 2, func(d *Deps) {
			d.Now = t0
			d.Backoffs = map[peer.ID]time.Time{actorPeer(0): until, actorPeer(1): until}
		})
		h.subscribeAll()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		h.tickAt(t0.Add(10 * time.Second))
		h.router.Request(h.topic, &pubsubv1.GetMesh{Topic: actorTopic})
		if m := actortest.Fish(h.router, func(*pubsubv1.Mesh) bool { return true }); len(m.GetMesh()) != 0 {
			t.Fatalf("grafted %d peers inside restored backoffs", len(m.GetMesh()))
		}
		h.tickAt(until.Add(time.Second))
		h.router.Request(h.topic, &pubsubv1.GetMesh{Topic: actorTopic})
		if m := actortest.Fish(h.router, func(*pubsubv1.Mesh) bool { return true }); len(m.GetMesh()) != 2 {
			t.Fatalf("mesh %d after the backoffs ended, want 2", len(m.GetMesh()))
		}
	})
}

// TestTopicActorPanicHandsOverBackoffs: issue 11 item 13. Under the
// router's strategy (stop, and the parent cleans up) a panicking topic
// actor is stopped, not restarted in place as an empty core, and its
// Stopping still hands its backoffs to the parent.
func TestTopicActorPanicHandsOverBackoffs(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		t0 := time.Now()
		starts := 0
		h := newTopicHarnessWith(t, actorCfg(), 2, func(d *Deps) {
			d.Now = t0
			d.Backoffs = map[peer.ID]time.Time{actorPeer(0): t0.Add(time.Hour)}
			d.Verify = func(m *gossipsubv1.Message) error {
				if string(m.GetData()) == "boom" {
					panic("verify: boom")
				}
				return nil
			}
			d.Logger = nil
		}, actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive {
			starts++
			return actor.StopDirective
		})))
		h.subscribeAll()
		h.router.Watch(h.topic)
		h.receive(actorPeer(1), "boom")
		retired := h.retiredAndTerminated(t)
		if len(retired.GetBackoffs()) != 1 || peer.ID(retired.GetBackoffs()[0].GetPeer()) != actorPeer(0) {
			t.Fatalf("retired %v, want the restored backoff of peer 0", retired)
		}
		if starts != 1 {
			t.Fatalf("supervisor consulted %d times, want 1", starts)
		}
	})
}

// TestTopicMailboxDropsGossipNotMembership: issue 11 item 11. The topic
// actor's mailbox is bounded for received messages and IHAVE/IWANT: while
// the actor is stuck, MaxMailbox of them wait and the rest are dropped and
// counted by kind; membership and GRAFT are never dropped; the depth is
// exported; and an IWANT promise that expires while we were dropping is
// forgiven, not charged to the peer.
func TestTopicMailboxDropsGossipNotMembership(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := actorCfg()
		cfg.MaxMailbox = 4
		t0 := time.Now()
		release := make(chan struct{})
		h := newTopicHarnessWith(t, cfg, 3, func(d *Deps) {
			d.Now = t0
			d.Verify = func(m *gossipsubv1.Message) error {
				if string(m.GetData()) == "block" {
					<-release
				}
				return nil
			}
		})
		h.subscribeAll()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		// We ask peer 2 for "wanted" (a promise), then the actor gets stuck.
		h.router.Send(h.topic, &pubsubv1.ReceivedControl{Peer: []byte(actorPeer(2)),
			Ihave: []*gossipsubv1.ControlIHave{{TopicID: proto.String(actorTopic), MessageIDs: [][]byte{[]byte("wanted")}}}})
		h.receive(actorPeer(0), "block")
		synctest.Wait()
		for i := range 10 {
			h.receive(actorPeer(1), fmt.Sprint("m", i))
		}
		for range 3 {
			h.router.Send(h.topic, &pubsubv1.ReceivedControl{Peer: []byte(actorPeer(1)),
				Ihave: []*gossipsubv1.ControlIHave{{TopicID: proto.String(actorTopic), MessageIDs: [][]byte{[]byte("x")}}}})
		}
		unsub := false
		h.router.Send(h.topic, &pubsubv1.PeerSubscriptions{Peer: []byte(actorPeer(1)),
			Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String(actorTopic), Subscribe: &unsub}}})
		close(release)
		synctest.Wait()
		h.router.Request(h.topic, &pubsubv1.GetMesh{Topic: actorTopic})
		if m := actortest.Fish(h.router, func(*pubsubv1.Mesh) bool { return true }); hasID(m.GetPeers(), actorPeer(1)) {
			t.Fatal("the unsubscribe was dropped with the gossip")
		}
		// Past the promise's deadline: forgiven, not charged.
		h.tickAt(t0.Add(cfg.IWantFollowupTime + time.Second))
		synctest.Wait()
		for {
			r, ok := h.router.Next(time.Millisecond)
			if !ok {
				break
			}
			if p, isP := r.Message.(*pubsubv1.PeerBehaviourPenalty); isP {
				t.Fatalf("charged %v while we were dropping", p)
			}
		}
		msgs := testutil.ToFloat64(h.metrics.mailboxDrops.WithLabelValues("messages"))
		gossip := testutil.ToFloat64(h.metrics.mailboxDrops.WithLabelValues("gossip"))
		if msgs != 6 || gossip != 3 {
			t.Fatalf("drops: messages %v gossip %v, want 6 and 3 (10 messages and 3 IHAVEs behind a mailbox of 4)", msgs, gossip)
		}
		if d := testutil.ToFloat64(h.metrics.mailboxDepth.WithLabelValues(actorTopic)); d < 4 {
			t.Fatalf("depth gauge %v, want at least MaxMailbox 4", d)
		}
	})
}

func hasID(ids [][]byte, p peer.ID) bool {
	for _, id := range ids {
		if peer.ID(id) == p {
			return true
		}
	}
	return false
}
