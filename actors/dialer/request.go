package dialer

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// maxProtocolLen is multistream-select's limit on a protocol id (a message
// of the handshake is at most 1024 bytes); a longer one can never be
// negotiated, so it is rejected before it takes a slot.
const maxProtocolLen = 1024

// Request is a DialPeer after decoding and validation: what the pool core
// works with.
type Request struct {
	Peer     peer.ID
	Addrs    []ma.Multiaddr
	Source   dialerv1.DialSource
	Protocol string
	// Timeout bounds the dial once it has a slot; never zero after
	// ParseDialPeer.
	Timeout time.Duration
}

// ErrInvalidRequest wraps every reason ParseDialPeer refuses a DialPeer.
var ErrInvalidRequest = errors.New("invalid dial request")

// ParseDialPeer decodes the peer id and addresses of msg and applies the
// limits of cfg. The bytes come from other actors and, through peer
// exchange, from other peers, so nothing in them is trusted: every failure
// is an error wrapping ErrInvalidRequest, never a panic.
//
// An address may end in /p2p/<id> only if <id> is the peer being dialed;
// the suffix is removed because the host is given the id separately.
// DIAL_SOURCE_UNSPECIFIED is read as API, nwaku's default source.
func ParseDialPeer(msg *dialerv1.DialPeer, cfg Config) (Request, error) {
	var req Request
	raw := msg.GetPeerId()
	if len(raw) == 0 {
		return req, fmt.Errorf("%w: empty peer id", ErrInvalidRequest)
	}
	id, err := peer.IDFromBytes(raw)
	if err != nil {
		return req, fmt.Errorf("%w: peer id: %w", ErrInvalidRequest, err)
	}
	req.Peer = id
	src := msg.GetSource()
	if src == dialerv1.DialSource_DIAL_SOURCE_UNSPECIFIED {
		src = dialerv1.DialSource_DIAL_SOURCE_API
	}
	if _, known := dialerv1.DialSource_name[int32(src)]; !known {
		return req, fmt.Errorf("%w: peer %s: unknown source %d", ErrInvalidRequest, id, src)
	}
	req.Source = src
	if n := len(msg.GetProtocol()); n > maxProtocolLen {
		return req, fmt.Errorf("%w: peer %s: protocol id of %d bytes exceeds %d", ErrInvalidRequest, id, n, maxProtocolLen)
	}
	req.Protocol = msg.GetProtocol()
	req.Timeout = cfg.DialTimeout
	if d := msg.GetTimeout(); d != nil {
		if err := d.CheckValid(); err != nil {
			return req, fmt.Errorf("%w: peer %s: timeout: %w", ErrInvalidRequest, id, err)
		}
		switch t := d.AsDuration(); {
		case t < 0:
			return req, fmt.Errorf("%w: peer %s: negative timeout %s", ErrInvalidRequest, id, t)
		case t > cfg.MaxDialTimeout:
			return req, fmt.Errorf("%w: peer %s: timeout %s exceeds MaxDialTimeout %s", ErrInvalidRequest, id, t, cfg.MaxDialTimeout)
		case t > 0:
			req.Timeout = t
		}
	}
	addrs := msg.GetAddresses()
	if len(addrs) > cfg.MaxAddresses {
		return req, fmt.Errorf("%w: peer %s: %d addresses exceed MaxAddresses %d", ErrInvalidRequest, id, len(addrs), cfg.MaxAddresses)
	}
	if len(addrs) > 0 {
		req.Addrs = make([]ma.Multiaddr, 0, len(addrs))
	}
	for i, b := range addrs {
		a, err := parseAddr(b, id)
		if err != nil {
			return req, fmt.Errorf("%w: peer %s: address %d: %w", ErrInvalidRequest, id, i, err)
		}
		req.Addrs = append(req.Addrs, a)
	}
	return req, nil
}

// parseAddr decodes one binary multiaddr and strips a /p2p/ suffix naming
// id; a suffix naming another peer would dial the wrong peer.
func parseAddr(b []byte, id peer.ID) (ma.Multiaddr, error) {
	a, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return nil, err
	}
	transport, p2p := peer.SplitAddr(a)
	if p2p == "" {
		return a, nil
	}
	if p2p != id {
		return nil, fmt.Errorf("%s names peer %s", a, p2p)
	}
	if len(transport) == 0 {
		return nil, fmt.Errorf("%s has no transport part", a)
	}
	return transport, nil
}
