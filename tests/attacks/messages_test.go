package attacks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// sessionPenalisesInvalidMessages: a message its peer session refuses
// (signature policy, StrictNoSign author fields) is dropped, counted and
// charged to the sender as an invalid delivery (P4, as go-libp2p-pubsub
// does), so the two tests of such messages expect the spammer graylisted.
// It was false while the router did not charge them; the tests then checked
// that the spammer was *not* graylisted.
const sessionPenalisesInvalidMessages = true

// invalidSpam runs one invalid-message attack on node 0: the attacker joins
// its mesh and sends 200 invalid messages (bad(k) builds the k-th) in RPCs of
// 10 while honest nodes publish. None is delivered or forwarded, each is
// counted under dropMetric{label=value} (or ignored once graylisted); delivery stays 100 % and the heap
// flat. With graylist the attacker must end graylisted, otherwise not.
func (c *cluster) invalidSpam(dropMetric, label, value string, graylist bool, bad func(k int) *gossipsubv1.Message) {
	t := c.t
	t.Helper()
	target := c.connectAttacker(0)
	c.send(target, attacker.JoinRPC(topic))
	c.Heartbeats(1)
	before := heap()
	const spam, perRPC = 200, 10
	var published []string
	for k := 0; k < spam; k += perRPC {
		rpc := &gossipsubv1.RPC{}
		for j := range perRPC {
			rpc.Publish = append(rpc.Publish, bad(k+j))
		}
		c.send(target, rpc)
		if k%(5*perRPC) == 0 {
			published = append(published, c.Publish(3)...)
			c.Heartbeats(1)
		}
	}
	c.Heartbeats(1)
	// Each is counted, or ignored with its whole RPC once the attacker is
	// graylisted.
	d := c.Metric(0, dropMetric, label, value)
	ignored := perRPC * c.Metric(0, "libp2p_pubsub_inbound_drops_total", "reason", "graylisted")
	if d == 0 || d+ignored < spam {
		t.Fatalf("%v invalid messages counted in %s{%s=%q} and %v ignored as graylisted, want %d", d, dropMetric, label, value, ignored, spam)
	}
	for i := 1; i < len(c.Nodes); i++ {
		if d := c.Metric(i, dropMetric, label, value); d != 0 {
			t.Fatalf("node 0 forwarded invalid messages: node %d counted %v", i, d)
		}
	}
	if graylist {
		c.expectGraylisted(0, attacker.PublishRPC(bad(spam)))
	} else if s := c.Score(0, c.atk.ID()); s.GetScore() < c.Nodes[0].Config.Mesh.Thresholds.Graylist {
		t.Fatalf("the router now graylists senders of messages its session refuses (score %.1f): "+
			"set sessionPenalisesInvalidMessages = true", s.GetScore())
	}
	published = append(published, c.Publish(5)...)
	c.Heartbeats(1)
	c.ExpectDelivered(published, deliveryTimeout)
	c.expectHeapGrowth(before, 4<<20, "invalid message spam")
}

// TestInvalidSignatureSpam (b.8 M8, b.20 P6): StrictSign (libp2p profile);
// the attacker's messages carry signatures that do not verify.
func TestInvalidSignatureSpam(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		priv, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := wire.NewSigner(priv, wire.NewSeqnoSource(1))
		if err != nil {
			t.Fatal(err)
		}
		p := wire.ProfileLibp2p
		c := newCluster(t, setup{honest: 4, profile: p, attacker: attacker.Config{Protocols: p.Protocols()}})
		c.invalidSpam("libp2p_pubsub_inbound_drops_total", "reason", "invalid_message", sessionPenalisesInvalidMessages,
			func(k int) *gossipsubv1.Message {
				m, err := attacker.InvalidSignatureMessage(s, topic, fmt.Appendf(nil, "forged-%d", k))
				if err != nil {
					t.Fatal(err)
				}
				return m
			})
	})
}

// TestForbiddenFieldsUnderStrictNoSign (b.7 M7): StrictNoSign (Waku
// profile); each message carries one author field the policy forbids (from,
// seqno, signature, key, or an empty from), in turn.
func TestForbiddenFieldsUnderStrictNoSign(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		c.invalidSpam("libp2p_pubsub_inbound_drops_total", "reason", "invalid_message", sessionPenalisesInvalidMessages,
			func(k int) *gossipsubv1.Message {
				f := attacker.ForbiddenFields[k%len(attacker.ForbiddenFields)]
				return attacker.ForbiddenFieldMessage(topic, fmt.Appendf(nil, "unauthorised-%d", k), f)
			})
	})
}

// TestRejectedMessageSpam (b.20 P6): well-formed messages that node 0's
// application validator REJECTs. Rejections are P4, so the spammer's score
// falls below the graylist threshold; it is pruned and ignored.
func TestRejectedMessageSpam(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		// The validator accepts honest messages and rejects everything else.
		validator := c.Sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*pubsubv1.ValidateMessage); ok {
				out := pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_REJECT
				if strings.HasPrefix(string(m.GetMessage().GetData()), "honest-") {
					out = pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT
				}
				ctx.Respond(&pubsubv1.ValidationResult{MessageId: m.GetMessageId(), Outcome: out})
			}
		}))
		c.Sys.Root.RequestWithCustomSender(c.Nodes[0].Router, &pubsubv1.RegisterValidator{Topic: topic}, validator)
		c.Heartbeats(1)
		c.invalidSpam("libp2p_gossipsub_validation_results_total", "outcome", "reject", true, func(k int) *gossipsubv1.Message {
			return attacker.UnsignedMessage(topic, fmt.Appendf(nil, "rejected-%d", k))
		})
	})
}
