package heal

import (
	"fmt"
	"testing"
	"time"

	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh"
	"github.com/peermesh/peermesh/internal/proctest"
)

const relay = "/vac/waku/relay/2.0.0"

// TestStaticNodeStartedLateIsConnected (issue 10, item 2): node A starts
// with --staticnode=B while B is down; its first dial is refused. B starts 5 s
// later; A is connected to B within 30 s of that, without an operator.
func TestStaticNodeStartedLateIsConnected(t *testing.T) {
	const bKey = "4e1c8a9f0b7d2c3e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a"
	key, err := peermesh.ParseKey(bKey)
	if err != nil {
		t.Fatal(err)
	}
	bID, err := libp2ppeer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	bPort := proctest.FreePort(t)
	a := start(t, "a", 0, fmt.Sprintf("--staticnode=/ip4/127.0.0.1/tcp/%d/p2p/%s", bPort, bID))
	a.Await(30*time.Second, "peermesh node started", "peer_id")
	// The scenario: B comes up 5 s after A (not a wait for behaviour).
	<-time.After(5 * time.Second)
	b := start(t, "b", bPort, "--nodekey="+bKey)
	b.addr()
	proctest.Eventually(t, 30*time.Second, "A connected to its static node B", func() bool {
		for _, p := range a.peers() {
			if p.PeerID == bID.String() && p.Connected == "Connected" {
				return true
			}
		}
		return false
	})
}

// TestPXOnlyBootstrapReachesOutboundTarget (issue 10, item 1): a node whose
// only bootstrap is a peer doing gossipsub peer exchange (its mesh full, so
// it answers our GRAFT with PRUNE and the signed records of its other
// peers) dials those peers and reaches its outbound relay target. With
// --max-connections=12 the node has 10 relay slots, 8 of them outbound.
func TestPXOnlyBootstrapReachesOutboundTarget(t *testing.T) {
	const others = 9 // more than the mesh's Dhi (8): the bootstrap's mesh fills
	boot := start(t, "bootstrap", 0, "--relay-peer-exchange")
	bootAddr := boot.addr()
	for i := range others {
		start(t, fmt.Sprintf("peer%d", i), 0, "--relay-peer-exchange", "--staticnode="+bootAddr)
	}
	proctest.Eventually(t, 60*time.Second, "the bootstrap connected to its peers", func() bool {
		return boot.connected("", relay) >= others
	})
	proctest.Eventually(t, 60*time.Second, "the bootstrap's mesh full (Dhi 8)", func() bool {
		var mesh []struct {
			Peers []peer `json:"peers"`
		}
		return boot.get("/admin/v1/peers/mesh", &mesh) == nil && len(mesh) == 1 && len(mesh[0].Peers) >= 8
	})
	n := start(t, "newcomer", 0, "--relay-peer-exchange", "--max-connections=12", "--staticnode="+bootAddr)
	proctest.Eventually(t, 90*time.Second, "the newcomer at its outbound relay target of 8", func() bool {
		return n.connected("outbound", relay) >= 8
	})
	px := 0
	for _, p := range n.peers() {
		if p.Origin == "px" {
			px++
		}
	}
	if px < 7 {
		t.Fatalf("the newcomer knows %d peers from peer exchange, want the bootstrap's others", px)
	}
}
