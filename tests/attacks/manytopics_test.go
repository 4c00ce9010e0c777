package attacks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestManyTopics (b.58 L2): node 0 joins topics up to MaxTopics (1,024, one
// actor each), a further join is refused with an error, and a message on
// node 1 meshes with node 0 on the last topic joined when it joins it too.
// Leaving them all retires their actors FanoutTTL later (the registry is
// back to one topic actor) and returns the heap to within 5 % (+1 MiB) of
// before; the memory one topic
// costs is logged.
func TestManyTopics(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 2, profile: wire.ProfileWaku})
		n := c.Nodes[0]
		topicActors := func() int {
			k := 0
			for _, m := range c.Sys.ProcessRegistry.LocalPIDs.LocalPIDs {
				for id := range m.Items() {
					if strings.HasPrefix(id, n.Router.GetId()+"/topic/") {
						k++
					}
				}
			}
			return k
		}
		baseActors, before := topicActors(), heap()
		extra := n.Config.MaxTopics - 1 // "attack" is joined already
		names := make([]string, extra)
		for i := range names {
			names[i] = fmt.Sprintf("many-%04d", i)
			if j := sim.Request[*pubsubv1.Joined](n, &pubsubv1.Join{Topic: names[i]}); j.GetError() != "" {
				t.Fatalf("join %d: %s", i, j.GetError())
			}
		}
		c.Heartbeats(2)
		joined := heap()
		if j := sim.Request[*pubsubv1.Joined](n, &pubsubv1.Join{Topic: "one-too-many"}); j.GetError() == "" {
			t.Fatalf("a join beyond MaxTopics (%d) was accepted", n.Config.MaxTopics)
		}
		last := names[len(names)-1]
		if j := sim.Request[*pubsubv1.Joined](c.Nodes[1], &pubsubv1.Join{Topic: last}); j.GetError() != "" {
			t.Fatal(j.GetError())
		}
		c.Heartbeats(2)
		m := sim.Request[*pubsubv1.Mesh](c.Nodes[1], &pubsubv1.GetMesh{Topic: last})
		if !slices.ContainsFunc(m.GetPeers(), func(b []byte) bool { return peer.ID(b) == n.ID }) {
			t.Fatalf("node 1 has no mesh with node 0 on the %d-th topic", n.Config.MaxTopics)
		}
		actors := topicActors()
		// Leave them all: the actors retire FanoutTTL after their last use
		// (ADR 0012). Then once more with other names: the second round must
		// not add to what the first left (a per-topic leak would double it).
		cycle := func(round int) uint64 {
			for i, name := range names {
				if round > 0 {
					name = fmt.Sprintf("round%d-%04d", round, i)
					if j := sim.Request[*pubsubv1.Joined](n, &pubsubv1.Join{Topic: name}); j.GetError() != "" {
						t.Fatalf("join %s: %s", name, j.GetError())
					}
				}
				if l := sim.Request[*pubsubv1.Left](n, &pubsubv1.Leave{Topic: name}); l.GetError() != "" {
					t.Fatalf("leave %s: %s", name, l.GetError())
				}
			}
			c.Heartbeats(int(n.Config.Mesh.FanoutTTL/time.Second) + 5)
			if got := topicActors(); got != baseActors {
				t.Fatalf("round %d: %d topic actors after leaving, %d before joining", round, got, baseActors)
			}
			return heap()
		}
		first := cycle(0)
		second := cycle(1)
		t.Logf("%d topics: %d topic actors, heap +%d KiB (%d B a topic); after leaving and retiring them: heap %+d KiB, after a second round %+d KiB",
			n.Config.MaxTopics, actors, (joined-before)>>10, (joined-before)/uint64(extra),
			(int64(first)-int64(before))>>10, (int64(second)-int64(before))>>10)
		if second > first+first/20+1<<20 {
			t.Errorf("heap %d KiB after a second round of %d topics, %d KiB after the first", second>>10, extra, first>>10)
		}
	})
}
