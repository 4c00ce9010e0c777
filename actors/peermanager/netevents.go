package peermanager

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// identifyBuffer bounds the identify events queued between libp2p's event
// bus and the adapter's goroutine; the bus holds the emitter when it is
// full, and the goroutine only converts and sends, so it drains fast.
const identifyBuffer = 256

// NetEvents turns go-libp2p network events into peer manager messages: a
// network.Notifiee reports each peer's first connection (PeerConnected with
// direction, remote address and IP) and the close of its last one
// (PeerDisconnected); an event-bus subscription reports identify
// (IdentifyCompleted with protocols, agent, version, listen addresses,
// public key and remote IP). Every send happens under one lock, in event
// order per peer, and an IdentifyCompleted is sent only for a peer reported
// connected (identify that overtakes the swarm's Connected notification
// reports the connection itself first), so the manager never sees identify
// before the connection, nor loses it.
type NetEvents struct {
	h    host.Host
	send func(proto.Message)
	sub  event.Subscription
	done chan struct{}

	mu sync.Mutex
	// conns holds the open connections of each peer. A set, not a count: at
	// start a connection can be reported twice (by the initial listing and
	// by the notifiee, since the swarm lists a connection before it notifies
	// it), and a count would then never reach zero and the peer would stay
	// connected in the books forever. Bounded by the host's own connections.
	conns map[peer.ID]map[network.Conn]struct{}
}

// StartNetEvents subscribes to h's events and sends the messages to pm
// through root. Stop it before closing the host.
func StartNetEvents(h host.Host, root *actor.RootContext, pm *actor.PID) (*NetEvents, error) {
	return startNetEvents(h, func(m proto.Message) { root.Send(pm, m) })
}

func startNetEvents(h host.Host, send func(proto.Message)) (*NetEvents, error) {
	sub, err := h.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerProtocolsUpdated)},
		eventbus.BufSize(identifyBuffer), eventbus.Name("peermanager-netevents"))
	if err != nil {
		return nil, fmt.Errorf("netevents: subscribe to identify events: %w", err)
	}
	n := &NetEvents{h: h, send: send, sub: sub, done: make(chan struct{}), conns: make(map[peer.ID]map[network.Conn]struct{})}
	h.Network().Notify(n)
	// Connections that existed before the notifiee was installed. One that
	// is already closed is skipped: its Disconnected may have come and gone
	// (the swarm closes a connection before it notifies the close).
	for _, c := range h.Network().Conns() {
		n.add(c, true)
	}
	go n.loop()
	return n, nil
}

// Stop unsubscribes and waits for the adapter's goroutine to end.
func (n *NetEvents) Stop() error {
	n.h.Network().StopNotify(n)
	err := n.sub.Close()
	<-n.done
	if err != nil {
		return fmt.Errorf("netevents: close subscription: %w", err)
	}
	return nil
}

func (n *NetEvents) loop() {
	defer close(n.done)
	for ev := range n.sub.Out() {
		switch e := ev.(type) {
		case event.EvtPeerIdentificationCompleted:
			n.identified(e)
		case event.EvtPeerProtocolsUpdated:
			n.protocolsUpdated(e)
		}
	}
}

// protocolsUpdated reports a connected peer's protocols after identify push
// changed them (the full list from the peerstore, sanitised like identify's).
func (n *NetEvents) protocolsUpdated(ev event.EvtPeerProtocolsUpdated) {
	protos, err := n.h.Peerstore().GetProtocols(ev.Peer)
	if err != nil {
		return
	}
	msg := &pmv1.PeerProtocolsUpdated{PeerId: []byte(ev.Peer), Protocols: validProtocols(protos), Time: timestamppb.Now()}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.conns[ev.Peer]) == 0 {
		return // not connected (any more): its next identify will tell
	}
	n.send(msg)
}

// Connected implements network.Notifiee; the swarm calls it for every new
// connection.
func (n *NetEvents) Connected(_ network.Network, c network.Conn) { n.add(c, false) }

// add records an open connection; the peer's first one sends PeerConnected.
func (n *NetEvents) add(c network.Conn, skipClosed bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if skipClosed && c.IsClosed() {
		return
	}
	n.addLocked(c)
}

func (n *NetEvents) addLocked(c network.Conn) {
	p := c.RemotePeer()
	set := n.conns[p]
	if set == nil {
		set = make(map[network.Conn]struct{}, 1)
		n.conns[p] = set
	}
	if _, seen := set[c]; seen {
		return
	}
	set[c] = struct{}{}
	if len(set) == 1 {
		n.send(connectedEvent(c))
	}
}

// connectedEvent describes a peer's connection as a PeerConnected.
func connectedEvent(c network.Conn) *pmv1.PeerConnected {
	dir := peerv1.Direction_DIRECTION_INBOUND
	if c.Stat().Direction == network.DirOutbound {
		dir = peerv1.Direction_DIRECTION_OUTBOUND
	}
	return &pmv1.PeerConnected{PeerId: []byte(c.RemotePeer()), Direction: dir, RemoteAddr: c.RemoteMultiaddr().Bytes(),
		RemoteIp: remoteIP(c.RemoteMultiaddr()), Time: timestamppb.Now()}
}

// Disconnected implements network.Notifiee.
func (n *NetEvents) Disconnected(_ network.Network, c network.Conn) {
	p := c.RemotePeer()
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.conns[p]
	if _, open := set[c]; !open {
		return // never reported connected (closed before the adapter started)
	}
	delete(set, c)
	if len(set) > 0 {
		return
	}
	delete(n.conns, p)
	n.send(&pmv1.PeerDisconnected{PeerId: []byte(p), Time: timestamppb.Now()})
}

// Listen and ListenClose implement network.Notifiee.
func (n *NetEvents) Listen(network.Network, ma.Multiaddr)      {}
func (n *NetEvents) ListenClose(network.Network, ma.Multiaddr) {}

func (n *NetEvents) identified(ev event.EvtPeerIdentificationCompleted) {
	// Identify's strings are the peer's bytes (its protobuf is proto2, which
	// does not check UTF-8); ours are proto3 strings, which a record cannot
	// be encoded with unless they are valid UTF-8. Sanitised here, at the
	// edge, so the rest of the node only ever sees valid strings.
	msg := &pmv1.IdentifyCompleted{PeerId: []byte(ev.Peer), Agent: validUTF8(ev.AgentVersion),
		ProtocolVersion: validUTF8(ev.ProtocolVersion), Time: timestamppb.Now()}
	msg.Protocols = validProtocols(ev.Protocols)
	for _, a := range ev.ListenAddrs {
		msg.ListenAddrs = append(msg.ListenAddrs, a.Bytes())
	}
	if ev.Conn != nil {
		msg.RemoteIp = remoteIP(ev.Conn.RemoteMultiaddr())
		if pk := ev.Conn.RemotePublicKey(); pk != nil {
			msg.PublicKey, _ = crypto.MarshalPublicKey(pk) // nil on error: the id may embed it
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.conns[ev.Peer]) == 0 {
		// Identify can overtake the swarm's Connected notification (they run
		// on different goroutines, and the swarm calls the notifiees one by
		// one): report the connection first, from the event, and the late
		// notification then finds it known. A closed connection is dropped:
		// its Disconnected has come or will find nothing to remove.
		if ev.Conn == nil || ev.Conn.IsClosed() || ev.Conn.RemotePeer() != ev.Peer {
			return
		}
		n.addLocked(ev.Conn)
	}
	n.send(msg)
}

// validProtocols are the protocol ids that are valid UTF-8: one with
// invalid bytes cannot be ours to match or dial, so it is dropped rather
// than rewritten.
func validProtocols(ps []protocol.ID) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if utf8.ValidString(string(p)) {
			out = append(out, string(p))
		}
	}
	return out
}

// validUTF8 replaces every invalid byte sequence of s with U+FFFD.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// remoteIP is the IP of a connection's remote address, or "" (relayed).
func remoteIP(a ma.Multiaddr) string {
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return ""
	}
	return ip.String()
}
