package mesh

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

func (h *topicHarness) congestion(i int, on bool) {
	h.router.Send(h.topic, &pubsubv1.PeerCongestion{Peer: []byte(actorPeer(i)), Congested: on})
}

func (h *topicHarness) publish(id string) {
	msg := &gossipsubv1.Message{Topic: proto.String(actorTopic), Data: []byte(id)}
	h.router.Request(h.topic, &pubsubv1.PublishLocal{Message: &pubsubv1.IdentifiedMessage{Id: []byte(id), Message: msg}})
}

// expectPublished waits for the Published of id and checks every peer got
// the message.
func (h *topicHarness) expectPublished(t *testing.T, id string) {
	t.Helper()
	p := actortest.Expect[*pubsubv1.Published](h.router)
	if string(p.GetMessageId()) != id || p.GetError() != "" || int(p.GetPeers()) != len(h.peers) {
		t.Fatalf("Published %v, want %s sent to %d peers", p, id, len(h.peers))
	}
	for _, pr := range h.peers {
		actortest.Fish(pr, func(s *pubsubv1.SendToPeer) bool {
			return len(s.GetMessages()) == 1 && string(s.GetMessages()[0].GetId()) == id
		})
	}
}

func (h *topicHarness) admissions(outcome string) float64 {
	return testutil.ToFloat64(h.metrics.admission.WithLabelValues(outcome))
}

// A topic actor whose mesh reports congestion holds its node's publishes
// (no Published, nothing sent) and publishes them when the mesh is healthy
// again, or after MaxHold at the latest (ADR 0030).
func TestTopicActorHoldsPublishesWhileCongested(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := meshOf(t, 4)
		h.congestion(0, true)
		h.congestion(1, true) // 2 of 4: the quorum
		h.publish("a")
		h.router.ExpectNoMessage(500 * time.Millisecond)
		for _, p := range h.peers {
			p.ExpectNoMessage(time.Millisecond)
		}
		if g := testutil.ToFloat64(h.metrics.publishHeld); g != 1 {
			t.Fatalf("held gauge %v, want 1", g)
		}
		h.congestion(1, false) // 1 of 4: healthy
		h.expectPublished(t, "a")

		// Congested again: released at MaxHold (1 s) although it stays so.
		h.congestion(2, true)
		start := time.Now()
		h.publish("b")
		h.expectPublished(t, "b")
		if waited := time.Since(start); waited != DefaultAdmission().MaxHold {
			t.Fatalf("held for %s, want MaxHold %s", waited, DefaultAdmission().MaxHold)
		}
		if h.admissions("held") != 2 || h.admissions("released_early") != 1 || h.admissions("released_late") != 1 {
			t.Fatalf("admission counters held %v early %v late %v", h.admissions("held"),
				h.admissions("released_early"), h.admissions("released_late"))
		}
		if g := testutil.ToFloat64(h.metrics.congestedTopics); g != 1 {
			t.Fatalf("congested topics gauge %v, want 1", g)
		}
	})
}

// One stuck peer — its session reports a congested queue and never
// recovers — does not hold the node's publishes.
func TestTopicActorOneStuckPeerDoesNotStallPublishing(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := meshOf(t, 4)
		h.congestion(3, true)
		for _, id := range []string{"a", "b", "c"} {
			start := time.Now()
			h.publish(id)
			h.expectPublished(t, id)
			if waited := time.Since(start); waited != 0 {
				t.Fatalf("publish %s waited %s with one stuck peer", id, waited)
			}
		}
		if h.admissions("held") != 0 || h.admissions("admitted") != 3 {
			t.Fatalf("admission counters held %v admitted %v", h.admissions("held"), h.admissions("admitted"))
		}
	})
}

// A full admission queue answers with ErrAdmissionFull, counted; the held
// publishes still go out.
func TestTopicActorRefusesPublishesOverMaxHeld(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := actorCfg()
		cfg.D, cfg.Dhi = 2, 2
		cfg.Admission.MaxHeld = 1
		h := newTopicHarness(t, cfg, 2)
		h.subscribeAll()
		h.router.Request(h.topic, &pubsubv1.Join{Topic: actorTopic})
		h.router.ExpectMessage(&pubsubv1.Joined{Topic: actorTopic})
		for _, p := range h.peers {
			actortest.Expect[*pubsubv1.SendToPeer](p)
		}
		h.congestion(0, true)
		h.congestion(1, true)
		h.publish("a")
		h.publish("b")
		if p := actortest.Expect[*pubsubv1.Published](h.router); string(p.GetMessageId()) != "b" ||
			p.GetError() != ErrAdmissionFull.Error() {
			t.Fatalf("Published %v, want b refused with ErrAdmissionFull", p)
		}
		if h.admissions("refused") != 1 {
			t.Fatalf("refused %v, want 1", h.admissions("refused"))
		}
		h.congestion(0, false)
		h.expectPublished(t, "a")
	})
}
