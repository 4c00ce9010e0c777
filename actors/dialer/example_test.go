package dialer_test

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actors/dialer"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// instantDialer stands in for NewLibp2pDialer(host) so the example runs
// without a network: every dial connects at once.
type instantDialer struct{}

func (instantDialer) Dial(context.Context, peer.ID, []ma.Multiaddr, string) error { return nil }
func (instantDialer) IsConnected(peer.ID) bool                                    { return false }
func (instantDialer) Self() peer.ID                                               { return "self" }

// Example spawns the dial pool in an application's own actor system and
// asks it for one dial. In production Deps.Dialer is
// dialer.NewLibp2pDialer(host) and Deps.Registerer the node's registry.
func Example() {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	pool := sys.Root.Spawn(dialer.Props(dialer.DefaultConfig(), dialer.Deps{
		Dialer:     instantDialer{},
		Registerer: prometheus.NewRegistry(),
	}))

	// Identity-multihash peer id: enough for a fake dialer.
	target := peer.ID(append([]byte{0x00, 4}, "node"...))
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/60000")
	reply, err := sys.Root.RequestFuture(pool, &dialerv1.DialPeer{
		PeerId:    []byte(target),
		Addresses: [][]byte{addr.Bytes()},
		Source:    dialerv1.DialSource_DIAL_SOURCE_STATIC,
	}, 5*time.Second).Result()
	if err != nil {
		fmt.Println("no answer:", err)
		return
	}
	done := reply.(*dialerv1.DialCompleted)
	fmt.Println(done.GetOutcome())
	// Output: DIAL_OUTCOME_CONNECTED
}
