package peermanager

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
)

// PeerCloser closes every connection to a peer. The actor calls it on a
// goroutine of its own, never from the core, since closing is I/O.
type PeerCloser interface {
	ClosePeer(p peer.ID) error
}

// StreamCounter counts the host's open streams of a protocol by direction
// (nwaku's getNumStreams). It is called from the actor and must not block.
type StreamCounter interface {
	NumStreams(protocol string) (in, out int)
}

// ConnectionLister reports the host's current connections, one
// PeerConnected per connected peer. The actor asks at start, so a restarted
// manager (whose books come back from storage as not connected) knows the
// connections that outlived it; the network-event adapter only reports
// changes.
type ConnectionLister interface {
	Connections() []*pmv1.PeerConnected
}

// Deps are what the actor is given rather than builds.
type Deps struct {
	// Self is this node's peer id; required (never added, dialed or managed).
	Self peer.ID
	// Dialer is the dial pool actor; required.
	Dialer *actor.PID
	// Storage is the storage actor. When set, the manager loads the stored
	// peers at start (LoadAll) and persists every change (Put/Delete);
	// without it nothing survives a restart.
	Storage *actor.PID
	// Heartbeat, when set, is asked at start for the connectivity, prune and
	// log ticks; without it the owner sends the Ticks (tests do).
	Heartbeat *actor.PID
	// Closer disconnects peers a limit prunes; nil only logs them.
	Closer PeerCloser
	// Streams backs GetNumStreams and waku_streams_peers; nil reports none.
	Streams StreamCounter
	// Connections, when set, is asked for the live connections at start.
	Connections ConnectionLister
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger; nil means the actor system's logger.
	Logger *slog.Logger
}

// HostNetwork backs PeerCloser, StreamCounter and ConnectionLister with a
// go-libp2p host.
type HostNetwork struct{ Host host.Host }

// ClosePeer closes every connection to p (host.Network().ClosePeer).
func (h HostNetwork) ClosePeer(p peer.ID) error {
	if err := h.Host.Network().ClosePeer(p); err != nil {
		return fmt.Errorf("close peer %s: %w", p, err)
	}
	return nil
}

// NumStreams counts open streams whose protocol starts with protocol.
func (h HostNetwork) NumStreams(protocol string) (in, out int) {
	match := ProtocolMatcher(protocol)
	for _, c := range h.Host.Network().Conns() {
		for _, s := range c.GetStreams() {
			if !match(string(s.Protocol())) {
				continue
			}
			switch s.Stat().Direction {
			case network.DirInbound:
				in++
			case network.DirOutbound:
				out++
			}
		}
	}
	return in, out
}

// Connections lists one PeerConnected per connected peer, from its first
// connection, in the form the network-event adapter sends.
func (h HostNetwork) Connections() []*pmv1.PeerConnected {
	var out []*pmv1.PeerConnected
	for _, p := range h.Host.Network().Peers() {
		if conns := h.Host.Network().ConnsToPeer(p); len(conns) > 0 {
			out = append(out, connectedEvent(conns[0]))
		}
	}
	return out
}
