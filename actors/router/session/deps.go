package session

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Stream is the part of a libp2p network.Stream a session uses.
type Stream interface {
	io.Reader
	io.Writer
	Close() error
	Reset() error
	Protocol() protocol.ID
	SetWriteDeadline(time.Time) error
}

// Opener opens the session's outbound stream (host.NewStream in production,
// a pipe in tests). It is called from the session's writer goroutine.
type Opener interface {
	OpenStream(ctx context.Context, p peer.ID, protocols ...protocol.ID) (Stream, error)
}

// PeerCloser closes every connection to a peer.
type PeerCloser interface {
	ClosePeer(p peer.ID) error
}

// InspectFunc checks a received message against the signature policy and the
// size limit and returns its id. It must be safe for concurrent use (every
// session calls it) and must not keep msg.
type InspectFunc func(msg *gossipsubv1.Message) (id []byte, err error)

// Deps are what a session needs from outside.
type Deps struct {
	// Peer is the remote peer.
	Peer peer.ID
	// Outbound: we dialed the connection (counts towards D_out).
	Outbound bool
	Opener   Opener
	// Inspect validates received messages before they reach a topic actor.
	Inspect InspectFunc
	Metrics *Metrics
	Logger  *slog.Logger
	// PeerTopics are the topics the peer announced to a previous session
	// of ours (the router's copy), when this one replaces it while the
	// peer stays connected: the peer does not repeat its hello.
	PeerTopics []string
	// AcceptTopic, when set, says which topics the peer may subscribe to
	// (a subscription filter, e.g. the shards of the node's Waku cluster);
	// a refused subscription is dropped and counted
	// (inbound_drops{topic_filtered}). Topics with an actor of ours are
	// always accepted. Called from the session's goroutine; it must be safe
	// for concurrent use (every session calls it).
	AcceptTopic func(topic string) bool
	// Topics and Tracked are the router's topic actors at spawn (as in
	// LocalTopics), so the first RPCs of the peer are routed before the
	// router's next LocalTopics.
	Topics, Tracked []string
	// Closer disconnects the peer (host.Network() in production) when it
	// sends more than Config.MaxBadFramesPerHeartbeat bad frames in a
	// heartbeat; nil: such a peer is only penalised and reset, frame by
	// frame. Called on a goroutine of its own, once per session.
	Closer PeerCloser
	// Clock is the monotonic clock the outbound queue's age limits are
	// measured with (nil: time.Now). It is never compared with a Tick's
	// now, scores or backoffs: like WriteTimeout, it times local I/O only.
	Clock func() time.Time
}
