package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/peermesh/peermesh/actors/router/session"
	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// acceptor is the router's I/O edge toward libp2p: the stream handler and the
// network notifee. Its methods run in libp2p's goroutines and talk to the
// router only with messages. The one piece of shared state, the current
// inbound stream per peer, is touched only by these handler goroutines (so a
// second stream from a peer can reset the first); no actor reads it.
//
// "Newer" is the order in which streams reached the handler (seq), not the
// order in which the router answered: two streams opened at once wait on the
// router concurrently and may return in either order, and keeping whichever
// returned last could keep the older one while the peer writes on the newer.
type acceptor struct {
	root    *actor.RootContext
	router  *actor.PID
	cfg     session.Config
	in      session.InboundDeps
	timeout time.Duration
	// framePenalty is the P7 charged for a frame that fails to decode.
	framePenalty float64
	metrics      *session.Metrics
	log          *slog.Logger
	seq          atomic.Uint64

	mu      sync.Mutex
	current map[peer.ID]inbound
	closed  bool

	bundle *network.NotifyBundle
}

func (a *acceptor) handleStream(s network.Stream) {
	p := s.Conn().RemotePeer()
	id := a.seq.Add(1)
	res, err := actorkit.Request(a.root, a.router, &pubsubv1.InboundStreamOpened{
		Peer: []byte(p), Protocol: string(s.Protocol()), Stream: id,
		Outbound: s.Conn().Stat().Direction == network.DirOutbound,
	}, a.timeout).Result()
	if ok, _ := res.(*pubsubv1.InboundStreamAccepted); err != nil || ok == nil || !ok.GetAccepted() {
		a.log.Debug("inbound stream refused", "peer", p, "err", err)
		_ = s.Reset()
		return
	}
	a.mu.Lock()
	loser, keep := a.install(p, inbound{s: s, seq: id})
	a.mu.Unlock()
	if loser != nil {
		_ = loser.Reset() // the newer stream replaces the older (go-libp2p-pubsub does the same)
	}
	if !keep {
		a.log.Debug("inbound stream superseded before it started", "peer", p, "stream", id)
		return
	}
	err = session.ServeInbound(a.root, session.PeerPID(a.router, p.String()), s, id, a.cfg, a.metrics, a.in)
	if errors.Is(err, session.ErrPanicked) {
		a.log.Error("inbound stream reader panicked: stream reset, peer kept", "peer", p, "err", err)
	} else if err != nil {
		a.log.Debug("inbound stream ended", "peer", p, "err", err)
	}
	if err != nil {
		if reason := session.RejectReason(err); session.PeerFault(reason) && a.framePenalty > 0 {
			a.root.Send(a.router, &pubsubv1.PeerBehaviourPenalty{Peer: []byte(p), Penalty: a.framePenalty, Reason: "frame_" + reason})
		}
	}
	a.mu.Lock()
	if a.current[p].s == s {
		delete(a.current, p)
	}
	a.mu.Unlock()
}

// inbound is a peer's current inbound stream and its arrival order.
type inbound struct {
	s   network.Stream
	seq uint64
}

// install makes in the peer's current inbound stream unless a newer one
// (higher seq) is already current or the acceptor is closed. It returns the
// stream to reset (the older of the two, or in itself when it is refused)
// and whether in is to be served. Called with a.mu held.
func (a *acceptor) install(p peer.ID, in inbound) (reset network.Stream, keep bool) {
	if a.closed {
		return in.s, false
	}
	old, ok := a.current[p]
	if ok && old.seq > in.seq {
		return in.s, false
	}
	a.current[p] = in
	if ok {
		return old.s, true
	}
	return nil, true
}

// close resets every inbound stream (router stopping).
func (a *acceptor) close() {
	a.mu.Lock()
	a.closed = true
	streams := make([]network.Stream, 0, len(a.current))
	for _, in := range a.current {
		streams = append(streams, in.s)
	}
	a.mu.Unlock()
	for _, s := range streams {
		_ = s.Reset()
	}
}

func (a *acceptor) notifee() *network.NotifyBundle {
	if a.bundle != nil {
		return a.bundle
	}
	a.bundle = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			a.root.Send(a.router, &pubsubv1.PeerConnected{Peer: []byte(c.RemotePeer()), Outbound: c.Stat().Direction == network.DirOutbound})
		},
		DisconnectedF: func(n network.Network, c network.Conn) {
			if n.Connectedness(c.RemotePeer()) != network.Connected {
				a.root.Send(a.router, &pubsubv1.PeerDisconnected{Peer: []byte(c.RemotePeer())})
			}
		},
	}
	return a.bundle
}

// hostOpener opens outbound pubsub streams on the host.
type hostOpener struct {
	n interface {
		NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
	}
}

func (o hostOpener) OpenStream(ctx context.Context, p peer.ID, protos ...protocol.ID) (session.Stream, error) {
	s, err := o.n.NewStream(ctx, p, protos...)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// msgIDs returns the message-id function of each topic: the override of
// cfg.TopicMsgID (copied, so later changes to the caller's map do not race
// with the sessions reading it) or the profile's.
func msgIDs(cfg Config) func(topic string) wire.MsgIDFn {
	def, per := cfg.Profile.MsgIDFn(), maps.Clone(cfg.TopicMsgID)
	for t, fn := range per {
		if fn != nil {
			// The readers run it on messages that alias the frame buffer
			// (ADR 0027): an application's function that returned part
			// of the message would leave the id pointing into a buffer
			// reused for the next frame.
			per[t] = func(m *gossipsubv1.Message) []byte { return bytes.Clone(fn(m)) }
		}
	}
	return func(topic string) wire.MsgIDFn {
		if fn, ok := per[topic]; ok && fn != nil {
			return fn
		}
		return def
	}
}

// inspector returns the session's check for received messages: data size,
// the profile's signature policy without the signature itself
// (wire.CheckFields), then the topic's message id. The signature is verified
// by the topic actor (verifier), once per message instead of once per copy.
func inspector(p wire.Profile, maxData int, msgID func(topic string) wire.MsgIDFn) session.InspectFunc {
	policy := p.SignaturePolicy()
	return func(msg *gossipsubv1.Message) ([]byte, error) {
		if n := len(msg.GetData()); n > maxData {
			return nil, fmt.Errorf("message data of %d bytes exceeds %d", n, maxData)
		}
		if msg.Topic == nil {
			return nil, errors.New("message without topic")
		}
		if err := wire.CheckFields(policy, msg); err != nil {
			return nil, err
		}
		return messageID(msgID(msg.GetTopic()), msg)
	}
}

// messageID runs a message-id function, which may be an application's
// (Config.TopicMsgID): an id it cannot give — it panics, or returns an
// empty id (e.g. for a message without payload) — is an error, so the
// message is refused instead of taking the session or router down with the
// panic, or of sharing the seen-cache entry "" with every other such message
// (the first would hide all later ones).
func messageID(fn wire.MsgIDFn, msg *gossipsubv1.Message) (id []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = nil, fmt.Errorf("message id function panicked: %v", p)
		}
	}()
	if id = fn(msg); len(id) == 0 {
		return nil, errors.New("message id function gave no id")
	}
	return id, nil
}

// verifier returns the topic actors' signature check for the profile (nil
// when it does not sign).
func verifier(p wire.Profile) func(*gossipsubv1.Message) error {
	if p.SignaturePolicy() != wire.StrictSign {
		return nil
	}
	return wire.VerifySignature
}
