package dialer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
	"github.com/prometheus/client_golang/prometheus"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// Dialer is the one thing the pool needs from the network. Dial runs on its
// own goroutine, at most MaxInFlight at once; IsConnected and Self are
// called from the actor and must not block.
type Dialer interface {
	// Dial connects to p, trying addrs (the host may know more), and, when
	// protocol is not empty, opens and closes a stream of that protocol to
	// check the peer supports it. It must return when ctx is done: a dial
	// keeps its slot until Dial returns, even after it was cancelled.
	Dial(ctx context.Context, p peer.ID, addrs []ma.Multiaddr, protocol string) error
	// IsConnected reports whether the host has a connection to p now.
	IsConnected(p peer.ID) bool
	// Self is this node's peer id; the pool refuses to dial it.
	Self() peer.ID
}

// Deps are what the actor is given rather than builds.
type Deps struct {
	// Dialer does the dials; required (NewLibp2pDialer in production).
	Dialer Dialer
	// Registerer receives the pool's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger for the actor; nil uses the actor system's logger.
	Logger *slog.Logger
}

// ErrProtocolNotSupported is returned by the libp2p dialer when the peer
// connected but refused to negotiate the requested protocol.
var ErrProtocolNotSupported = errors.New("protocol not supported by peer")

// NewLibp2pDialer dials with a go-libp2p host: host.Connect, then, when a
// protocol is asked for, a stream of that protocol opened and closed.
func NewLibp2pDialer(h host.Host) Dialer { return libp2pDialer{h: h} }

type libp2pDialer struct{ h host.Host }

func (d libp2pDialer) Self() peer.ID { return d.h.ID() }

func (d libp2pDialer) IsConnected(p peer.ID) bool {
	return d.h.Network().Connectedness(p) == network.Connected
}

func (d libp2pDialer) Dial(ctx context.Context, p peer.ID, addrs []ma.Multiaddr, proto string) error {
	if err := d.h.Connect(ctx, peer.AddrInfo{ID: p, Addrs: addrs}); err != nil {
		return fmt.Errorf("connect %s: %w", p, err)
	}
	if proto == "" {
		return nil
	}
	s, err := d.h.NewStream(ctx, p, protocol.ID(proto))
	if err != nil {
		if errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}) {
			return fmt.Errorf("stream %s to %s: %w: %w", proto, p, ErrProtocolNotSupported, err)
		}
		return fmt.Errorf("stream %s to %s: %w", proto, p, err)
	}
	// The stream only proved support; closing it is best effort.
	_ = s.Close()
	return nil
}

// Classify maps the error of Dialer.Dial to the outcome the requester sees,
// with a short reason. It is the one place this mapping lives:
//
//   - nil → CONNECTED;
//   - the dial's context deadline passed (ctxErr or err is
//     context.DeadlineExceeded, or err says it timed out) → TIMEOUT;
//   - the dial's context was cancelled → CANCELLED;
//   - the remote refused: connection refused, or the protocol was not
//     supported (ErrProtocolNotSupported or multistream's ErrNotSupported) →
//     REFUSED;
//   - the local network has no route (ENETUNREACH, what an offline host
//     answers at once) → UNREACHABLE: the peer manager does not hold that
//     against the peer while the node has no connection at all;
//   - anything else (no route, no addresses, handshake failed, backoff) →
//     FAILED.
//
// ctxErr is the dial context's Err() after Dial returned; it decides when
// the dialer returned an error that hides the context's, as the swarm may.
func Classify(err, ctxErr error) (dialerv1.DialOutcome, string) {
	if err == nil {
		return dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED, ""
	}
	reason := oneLine(err.Error())
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(ctxErr, context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT, reason
	case errors.Is(ctxErr, context.Canceled), errors.Is(err, context.Canceled):
		return dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, reason
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, ErrProtocolNotSupported),
		errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}), errors.Is(err, msmux.ErrNotSupported[string]{}):
		return dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED, reason
	case errors.Is(err, syscall.ENETUNREACH):
		return dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE, reason
	case errors.As(err, &timeout) && timeout.Timeout():
		return dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT, reason
	}
	return dialerv1.DialOutcome_DIAL_OUTCOME_FAILED, reason
}

// maxReasonLen bounds the reason carried in a DialCompleted: swarm errors
// list every address tried and may run to kilobytes.
const maxReasonLen = 512

// oneLine folds a multi-line error (the swarm lists one line per address)
// into one line of at most maxReasonLen bytes, for answers and logs.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}
