package peermesh

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/multiformats/go-multiaddr"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

func signedRecord(t *testing.T, signer crypto.PrivKey, names peer.ID) []byte {
	t.Helper()
	rec := &peer.PeerRecord{PeerID: names, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001")}, Seq: 1}
	env, err := record.Seal(rec, signer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPXPeersNeedAValidSignedRecordOfTheirOwn(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	other, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	otherID, _ := peer.IDFromPrivateKey(other)
	good := signedRecord(t, key, id)
	cases := []struct {
		name string
		in   *gossipsubv1.PeerInfo
		ok   bool
	}{
		{"valid record", &gossipsubv1.PeerInfo{PeerID: []byte(id), SignedPeerRecord: good}, true},
		{"no record", &gossipsubv1.PeerInfo{PeerID: []byte(id)}, false},
		{"garbage record", &gossipsubv1.PeerInfo{PeerID: []byte(id), SignedPeerRecord: []byte("junk")}, false},
		{"record of another peer", &gossipsubv1.PeerInfo{PeerID: []byte(id), SignedPeerRecord: signedRecord(t, other, otherID)}, false},
		{"signed by another peer", &gossipsubv1.PeerInfo{PeerID: []byte(id), SignedPeerRecord: signedRecord(t, other, id)}, false},
		{"bad peer id", &gossipsubv1.PeerInfo{PeerID: []byte("x"), SignedPeerRecord: good}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			adds, skipped := pxAddPeers(&pubsubv1.PeerExchangeReceived{Peers: []*gossipsubv1.PeerInfo{c.in}})
			if c.ok != (len(adds) == 1) || c.ok == (skipped == 1) {
				t.Fatalf("adds %v, skipped %d", adds, skipped)
			}
			if c.ok {
				a := adds[0]
				if peer.ID(a.GetPeer().GetPeerId()) != id || a.GetOrigin() != peerv1.Origin_ORIGIN_PX || len(a.GetPeer().GetAddresses()) != 1 {
					t.Fatalf("add %v", a)
				}
			}
		})
	}
}

func TestPXPeersPerPruneAreBounded(t *testing.T) {
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	p := &gossipsubv1.PeerInfo{PeerID: []byte(id), SignedPeerRecord: signedRecord(t, key, id)}
	var many []*gossipsubv1.PeerInfo
	for range maxPXPeers + 5 {
		many = append(many, p)
	}
	adds, skipped := pxAddPeers(&pubsubv1.PeerExchangeReceived{Peers: many})
	if len(adds) != maxPXPeers || skipped != 5 {
		t.Fatalf("adds %d, skipped %d", len(adds), skipped)
	}
}

// The router hands PX to the node; verified peers reach the peer manager as
// AddPeer with origin PX.
func TestNodeForwardsVerifiedPXToThePeerManager(t *testing.T) {
	sys := actortest.NewSystem(t)
	pm := actortest.NewProbe(t, sys)
	n, err := newNode(testConfig("node"), deps{peermanager: func(*Node, *actor.PID) *actor.Props {
		return actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if m, ok := c.Message().(*pmv1.AddPeer); ok {
					c.Send(pm.PID(), m)
				}
			})
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(key)
	pm.Send(pid, &pubsubv1.PeerExchangeReceived{Topic: "/t", Peers: []*gossipsubv1.PeerInfo{
		{PeerID: []byte(id), SignedPeerRecord: signedRecord(t, key, id)},
		{PeerID: []byte(id)}, // no record: skipped
	}})
	add := actortest.Expect[*pmv1.AddPeer](pm)
	if peer.ID(add.GetPeer().GetPeerId()) != id || add.GetOrigin() != peerv1.Origin_ORIGIN_PX {
		t.Fatalf("add %v", add)
	}
	pm.ExpectNoMessage(200 * time.Millisecond)
}
