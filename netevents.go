package peermesh

import (
	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
)

// netNotifee turns libp2p connection events into messages to the node actor,
// which forwards them to watchers. It runs on libp2p's goroutines and only
// sends: the first connection to a peer reports PeerConnected, the last one
// closing reports PeerDisconnected.
type netNotifee struct {
	root *actor.RootContext
	node *actor.PID
}

var _ network.Notifiee = (*netNotifee)(nil)

func (n *netNotifee) Connected(nw network.Network, c network.Conn) {
	if len(nw.ConnsToPeer(c.RemotePeer())) != 1 {
		return
	}
	dir := "inbound"
	if c.Stat().Direction == network.DirOutbound {
		dir = "outbound"
	}
	n.root.Send(n.node, &apiv1.PeerConnected{PeerId: c.RemotePeer().String(), Direction: dir, Address: c.RemoteMultiaddr().String()})
}

func (n *netNotifee) Disconnected(nw network.Network, c network.Conn) {
	if len(nw.ConnsToPeer(c.RemotePeer())) != 0 {
		return
	}
	n.root.Send(n.node, &apiv1.PeerDisconnected{PeerId: c.RemotePeer().String()})
}

func (n *netNotifee) Listen(network.Network, ma.Multiaddr)      {}
func (n *netNotifee) ListenClose(network.Network, ma.Multiaddr) {}
