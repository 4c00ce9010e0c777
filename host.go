package peermesh

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"

	"github.com/peermesh/peermesh/waku/mplex"
	"github.com/prometheus/client_golang/prometheus"
)

// UserAgent is the agent identify announces: peermesh/<version>.
const UserAgent = "peermesh/" + Version

// ProtocolVersion is identify's protocol version: the Waku protocol family
// peermesh speaks (go-libp2p's default, "ipfs/0.1.0", names another
// network's). Identify lists our protocols sorted by name, whatever order
// they were registered in; the relay protocol leads the list of protocols
// a relay stream offers (wire.ProfileWaku.Protocols).
const ProtocolVersion = "waku/2"

// newHost builds the node's libp2p host: TCP (and, with WebSocketSupport,
// WebSocket on WebSocketPort, which js-waku dials), Noise, Yamux (and
// mplex for peers without it: js-waku's default), no relay
// or NAT services, identify announcing agent peermesh/<version> and
// protocol version ProtocolVersion, and a resource manager whose system
// connection limit is MaxConnections — nwaku's only hard cap on connections; beyond it new
// connections are refused. Inbound connections still negotiating are
// bounded per IP, in all and in time (handshake.go).
//
// The TCP listener does not set SO_REUSEPORT (go-libp2p's default does):
// with it a second node on the same --tcp-port started silently and the
// kernel split incoming connections between the two, so dials reached the
// wrong peer id. Without it the port in use fails the start, naming the
// port, as the REST and metrics servers do. (Reuseport only served to dial
// out from the listen port, for NAT hole punching, which this host does
// not do.)
func newHost(cfg Config, key crypto.PrivKey, reg prometheus.Registerer) (host.Host, error) {
	proto := "ip4"
	if ip := net.ParseIP(cfg.ListenAddress); ip != nil && ip.To4() == nil {
		proto = "ip6"
	}
	listen := fmt.Sprintf("/%s/%s/tcp/%d", proto, cfg.ListenAddress, cfg.TCPPort)
	listens := []string{listen}
	transports := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport())}
	if cfg.WebSocketSupport {
		ws, wsOpts, err := webSocketListener(cfg)
		if err != nil {
			return nil, err
		}
		listens = append(listens, fmt.Sprintf("/%s/%s/tcp/%d/%s", proto, cfg.ListenAddress, cfg.WebSocketPort, ws))
		transports = append(transports, libp2p.Transport(websocket.New, wsOpts...))
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limitsWithHandshakes(cfg.MaxConnections)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	hm, err := newHandshakeMetrics(reg)
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("host metrics: %w", err)
	}
	opts := append([]libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listens...),
		libp2p.NoTransports,
	}, transports...)
	h, err := libp2p.New(append(opts,
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		// mplex only for peers without yamux: js-waku's default node
		// (ADR 0018).
		libp2p.Muxer(mplex.ID, mplex.DefaultTransport),
		libp2p.ResourceManager(newHandshakeLimiter(rm, maxHandshakesPerIP, hm)),
		withHandshakeTimeout(),
		libp2p.PrometheusRegisterer(reg),
		libp2p.DisableRelay(),
		libp2p.UserAgent(UserAgent),
		libp2p.ProtocolVersion(ProtocolVersion),
	)...)
	if err != nil {
		_ = rm.Close()
		// go-libp2p formats its listen errors into a string (no wrapping),
		// so the errno is also looked for in the text.
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), syscall.EADDRINUSE.Error()) {
			return nil, fmt.Errorf("libp2p host: TCP port %d (or WebSocket port %d) on %s is already in use: %w", cfg.TCPPort, cfg.WebSocketPort, cfg.ListenAddress, err)
		}
		return nil, fmt.Errorf("libp2p host on %s: %w", listen, err)
	}
	return h, nil
}

// webSocketListener returns the WebSocket listen protocol ("ws", or "wss"
// with a certificate) and the transport's options. wss is what js-waku's
// default node dials (it filters out plain ws outside tests); nwaku serves it
// from PEM files with --websocket-secure-support, and so do we rather than
// requiring a TLS proxy in front.
func webSocketListener(cfg Config) (string, []any, error) {
	if cfg.WebSocketSecureCertPath == "" {
		return "ws", nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.WebSocketSecureCertPath, cfg.WebSocketSecureKeyPath)
	if err != nil {
		return "", nil, fmt.Errorf("secure WebSocket: certificate %s, key %s: %w", cfg.WebSocketSecureCertPath, cfg.WebSocketSecureKeyPath, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return "wss", []any{websocket.WithTLSConfig(tc)}, nil
}
