package attacks

import (
	"testing"
	"time"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/internal/attacker"
	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/wire"
)

// TestSilentMeshPeerPrunedByScore (b.22 P8, CVE-2022-47547): with the
// libp2p profile's shipped parameters (router.DefaultConfig) and the waku
// profile's strict option (score.StrictWakuTopicParams; the waku default is
// nwaku's, which leaves P3 off — ADR 0013), a peer that GRAFTs node
// 0 and then forwards nothing keeps a non-negative score until the P3
// activation window has passed, then turns negative and is PRUNEd within a
// few heartbeats of it, while honest mesh peers, which deliver their share
// of a steady honest traffic, stay in the mesh. Delivery stays 100 %.
func TestSilentMeshPeerPrunedByScore(t *testing.T) {
	for _, tt := range []struct {
		name      string
		profile   wire.Profile
		params    score.TopicParams
		configure func(*router.Config)
	}{
		{"waku strict", wire.ProfileWaku, score.StrictWakuTopicParams(), func(c *router.Config) { c.Mesh.Score = score.StrictWakuTopicParams() }},
		{"libp2p", wire.ProfileLibp2p, score.DefaultLibp2pTopicParams(), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) { silentMeshPeerPruned(t, tt.profile, tt.params, tt.configure) })
		})
	}
}

func silentMeshPeerPruned(t *testing.T, p wire.Profile, defaults score.TopicParams, configure func(*router.Config)) {
	c := newCluster(t, setup{honest: 4, profile: p, attacker: attacker.Config{Protocols: p.Protocols()}, configure: configure})
	if got := c.Nodes[0].Config.Mesh.Score; got != defaults {
		t.Fatalf("router.DefaultConfig(%v) does not run the expected topic parameters: %+v", p, got)
	}
	activation := defaults.MeshMessageDeliveriesActivation
	target := c.connectAttacker(0)
	c.send(target, attacker.JoinRPC(topic))
	grafted := time.Now()
	var published []string
	var prunedAt time.Time
	// Bounded: activation plus 10 heartbeats of grace.
	for beat := 0; beat < int(activation/time.Second)+10; beat++ {
		published = append(published, c.Publish(2)...)
		c.Heartbeats(1)
		since := time.Since(grafted)
		if len(c.atk.Record(target).PrunesOf(topic)) > 0 {
			prunedAt = time.Now()
			break
		}
		if since < activation {
			if s := c.Score(0, c.atk.ID()); s.GetScore() < 0 {
				t.Fatalf("silent peer negative (%.2f) %s after its GRAFT, before the %s activation window", s.GetScore(), since, activation)
			}
			if !c.InMesh(0, c.atk.ID()) {
				t.Fatalf("silent peer left the mesh %s after its GRAFT, before the activation window", since)
			}
		}
	}
	if prunedAt.IsZero() {
		s := c.Score(0, c.atk.ID())
		t.Fatalf("silent mesh peer not pruned %s after its GRAFT (activation %s): score %.2f %v", time.Since(grafted), activation, s.GetScore(), s.GetTopics())
	}
	after := prunedAt.Sub(grafted)
	t.Logf("silent peer pruned %s after its GRAFT (P3 activation %s)", after, activation)
	if after < activation || after > activation+5*time.Second {
		t.Fatalf("pruned %s after the GRAFT, want within 5 heartbeats after the %s activation window", after, activation)
	}
	if s := c.Score(0, c.atk.ID()); s.GetScore() >= 0 {
		t.Fatalf("pruned silent peer scores %.2f", s.GetScore())
	}
	for _, n := range c.Nodes[1:] {
		if !c.InMesh(0, n.ID) {
			t.Errorf("honest node %d was pruned from node 0's mesh along with the silent peer (score %.2f %v)",
				n.Index, c.Score(0, n.ID).GetScore(), c.Score(0, n.ID).GetTopics())
		}
	}
	c.ExpectDelivered(published, deliveryTimeout)
}
