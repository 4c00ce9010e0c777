package peermanager_test

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/dialer"
	"github.com/peermesh/peermesh/actors/peermanager"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

func ExampleCalculateBackoff() {
	for failures := range 5 {
		fmt.Println(failures, peermanager.CalculateBackoff(120*time.Second, 4, failures))
	}
	// Output:
	// 0 0s
	// 1 2m0s
	// 2 8m0s
	// 3 32m0s
	// 4 2h8m0s
}

func ExampleConfig_RelayTargets() {
	t := peermanager.DefaultConfig().RelayTargets()
	fmt.Printf("relay %d, out %d, in %d\n", t.MaxRelayPeers, t.OutRelayPeers, t.InRelayPeers)
	// Output: relay 40, out 13, in 27
}

func exampleID(seed int64) peer.ID {
	_, pub, _ := crypto.GenerateEd25519Key(rand.New(rand.NewSource(seed)))
	id, _ := peer.IDFromPublicKey(pub)
	return id
}

// The core is a plain state machine: feed it requests and events with the
// time, execute the effects it returns.
func ExampleManager() {
	m, err := peermanager.NewManager(peermanager.DefaultConfig(), exampleID(1))
	if err != nil {
		panic(err)
	}
	m.MarkLoaded() // no storage to wait for
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eff := m.AddPeer(1, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{
		Multiaddr: "/ip4/192.0.2.1/tcp/60000/p2p/" + exampleID(2).String(),
		Protocols: []string{peermanager.WakuRelayCodec},
	}}, now)
	fmt.Println("added:", eff.Replies[0].Msg.(*pmv1.PeerAdded).GetChanged(), "puts:", len(eff.Puts))
	eff = m.ConnectToRelayPeers(now)
	fmt.Println("dials:", len(eff.Dials), eff.Dials[0].Source)
	// Output:
	// added: true puts: 1
	// dials: 1 DIAL_SOURCE_RELAY
}

// Wiring the actor to a go-libp2p host: the dial pool dials, the adapter
// reports network events, the host closes peers the limits prune.
func ExampleProps() {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		panic(err)
	}
	defer h.Close()
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	pool := sys.Root.Spawn(dialer.Props(dialer.DefaultConfig(), dialer.Deps{Dialer: dialer.NewLibp2pDialer(h)}))
	pm := sys.Root.Spawn(peermanager.Props(peermanager.DefaultConfig(), peermanager.Deps{
		Self: h.ID(), Dialer: pool, Closer: peermanager.HostNetwork{Host: h}, Streams: peermanager.HostNetwork{Host: h},
	}))
	events, err := peermanager.StartNetEvents(h, sys.Root, pm)
	if err != nil {
		panic(err)
	}
	defer events.Stop()
	// Send heartbeatv1.Tick messages (or set Deps.Heartbeat) to drive it.
}
