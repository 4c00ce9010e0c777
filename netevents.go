package peermesh

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// identifyBuffer bounds identify events waiting for the adapter goroutine;
// libp2p's event bus makes the emitter wait when it is full.
const identifyBuffer = 64

// netEvents turns libp2p's connection and identify events into peer
// manager messages sent to the node actor, which forwards them to the peer
// manager and tells watchers. It runs on libp2p's goroutines and on one
// goroutine of its own; it only sends, stamping each event with the time it
// was seen (an inbound event, so the edge may read the clock).
type netEvents struct {
	root *actor.RootContext
	node *actor.PID
	h    host.Host
	sub  event.Subscription
	done chan struct{}
}

var _ network.Notifiee = (*netEvents)(nil)

func startNetEvents(h host.Host, root *actor.RootContext, node *actor.PID) (*netEvents, error) {
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted), eventbus.BufSize(identifyBuffer))
	if err != nil {
		return nil, err
	}
	e := &netEvents{root: root, node: node, h: h, sub: sub, done: make(chan struct{})}
	h.Network().Notify(e)
	go e.identifyLoop()
	return e, nil
}

func (e *netEvents) stop() {
	e.h.Network().StopNotify(e)
	_ = e.sub.Close()
	<-e.done
}

func (e *netEvents) identifyLoop() {
	defer close(e.done)
	for ev := range e.sub.Out() {
		id := ev.(event.EvtPeerIdentificationCompleted)
		msg := &pmv1.IdentifyCompleted{
			PeerId: []byte(id.Peer), Agent: id.AgentVersion, ProtocolVersion: id.ProtocolVersion,
			Time: timestamppb.New(time.Now()),
		}
		for _, p := range id.Protocols {
			msg.Protocols = append(msg.Protocols, string(p))
		}
		for _, a := range id.ListenAddrs {
			msg.ListenAddrs = append(msg.ListenAddrs, a.Bytes())
		}
		if id.Conn != nil {
			msg.RemoteIp = remoteIP(id.Conn.RemoteMultiaddr())
		}
		if pk := e.h.Peerstore().PubKey(id.Peer); pk != nil {
			msg.PublicKey, _ = crypto.MarshalPublicKey(pk)
		}
		e.root.Send(e.node, msg)
	}
}

// Connected reports the first connection to a peer.
func (e *netEvents) Connected(nw network.Network, c network.Conn) {
	if len(nw.ConnsToPeer(c.RemotePeer())) != 1 {
		return
	}
	dir := peerv1.Direction_DIRECTION_INBOUND
	if c.Stat().Direction == network.DirOutbound {
		dir = peerv1.Direction_DIRECTION_OUTBOUND
	}
	e.root.Send(e.node, &pmv1.PeerConnected{
		PeerId: []byte(c.RemotePeer()), Direction: dir, RemoteAddr: c.RemoteMultiaddr().Bytes(),
		RemoteIp: remoteIP(c.RemoteMultiaddr()), Time: timestamppb.New(time.Now()),
	})
}

// Disconnected reports the last connection to a peer closing.
func (e *netEvents) Disconnected(nw network.Network, c network.Conn) {
	if len(nw.ConnsToPeer(c.RemotePeer())) != 0 {
		return
	}
	e.root.Send(e.node, &pmv1.PeerDisconnected{PeerId: []byte(c.RemotePeer()), Time: timestamppb.New(time.Now())})
}

func (e *netEvents) Listen(network.Network, ma.Multiaddr)      {}
func (e *netEvents) ListenClose(network.Network, ma.Multiaddr) {}

func remoteIP(a ma.Multiaddr) string {
	if ip, err := manet.ToIP(a); err == nil {
		return ip.String()
	}
	return ""
}
