package mesh_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/mesh"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// A topic core driven the way the actor adapter drives it: peers arrive, we
// join, a message comes in, is validated and forwarded, and a heartbeat runs.
func ExampleTopic() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	topic, err := mesh.NewTopic("/waku/2/rs/1/0", mesh.DefaultConfig(mesh.ProfileWaku), rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		panic(err)
	}
	for i := range 8 {
		topic.AddPeer(now, mesh.PeerAttrs{ID: peer.ID(fmt.Sprint("p", i)), Features: mesh.Features{IDontWant: true}})
	}
	fx := topic.Join(now)
	fmt.Println("grafts:", len(fx.Grafts))

	m := &gossipsubv1.Message{Data: []byte("hello"), Topic: new("/waku/2/rs/1/0")}
	from := topic.MeshPeers()[0]
	fx = topic.HandleMessage(now, from, "id-1", m)
	fmt.Println("validate:", len(fx.Validations))
	fx = topic.HandleValidated(now, "id-1", mesh.ValidationAccept)
	fmt.Println("deliver:", len(fx.Deliveries), "forward to:", len(fx.Sends[0].To))

	topic.SetScores(map[peer.ID]float64{from: 1})
	fx = topic.Heartbeat(now.Add(time.Second))
	fmt.Println("ihave to:", len(fx.IHaves[0].To), "ids:", len(fx.IHaves[0].IDs))
	// Output:
	// grafts: 6
	// validate: 1
	// deliver: 1 forward to: 5
	// ihave to: 2 ids: 1
}
