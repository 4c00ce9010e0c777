package sim

import (
	"math"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// TestColocatedSybils (reliability-anchors a.2 scenario 9, scaled): the
// eclipse's silent sybils, packed on few IP addresses: in CI 10 on one
// address, each connected to every honest node; with -sim.full 160 on 4
// addresses, each connected to 10 of 40 honest nodes (the evaluation packed
// 160 per address on 25). With the shipped Waku IP-colocation
// parameters (P6 weight −50 above 5 peers per IP) every sybil's score is
// below the publish threshold at every honest node it reaches as soon as it
// connects, so its GRAFTs are refused and no sybil ever holds a mesh slot,
// not even at dawn: no gossip or flood publishing goes to them and delivery is
// 100 % within the deadline. (The peer manager's 5-per-IP limit, which
// keeps them from connecting at all, is case P15.)
func TestColocatedSybils(t *testing.T) {
	ips := 1
	at := attack{eclipse: eclipse{honest: 6, sybils: 10, honestDegree: 3, attackDegree: 6, run: 15, perBeat: 2},
		sybil: silentSybil}
	if *full {
		ips = 4
		at.eclipse = eclipse{honest: 40, sybils: 160, honestDegree: 20, attackDegree: 10, run: 60, perBeat: 2}
	}
	first := at.honest
	at.network = func(c *sim.Config) {
		c.SharesIPWith = func(i int) int {
			if i < first {
				return i
			}
			return first + (i-first)%ips
		}
	}
	bubble.Test(t, func(t *testing.T) {
		rs, isSybil, share := dawn(t, at)
		publish := rs.Nodes[0].Config.Mesh.Thresholds.Publish
		if share > 0 {
			t.Fatalf("colocated sybils hold %.0f %% of the honest meshes at dawn, want none", 100*share)
		}
		var published []string
		for hb := range at.run {
			published = append(published, rs.Publish(at.perBeat)...)
			beat(rs)
			if s := meshShare(rs, isSybil); s > 0 {
				t.Fatalf("heartbeat %d: colocated sybils hold %.0f %% of the honest meshes", hb, 100*s)
			}
		}
		expectOnTime(t, rs, published, deadline)
		worst, seen := math.Inf(-1), 0
		for i := range rs.Nodes {
			for _, ps := range sim.Request[*pubsubv1.Scores](rs.Nodes[i], &pubsubv1.GetScores{}).GetPeers() {
				if !isSybil[peer.ID(ps.GetPeer())] {
					continue
				}
				seen++
				worst = max(worst, ps.GetScore())
			}
		}
		t.Logf("no sybil in an honest mesh at dawn or after; %d (honest node, sybil) scores, highest %.0f (publish threshold %.0f)",
			seen, worst, publish)
		if seen == 0 || worst >= publish {
			t.Fatalf("the highest colocated sybil score is %.0f over %d scores, want below the publish threshold %.0f", worst, seen, publish)
		}
	})
}
