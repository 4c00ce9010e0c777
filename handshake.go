package peermesh

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/core/transport"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/peermesh/peermesh/internal/actorkit"
)

// Bounds on inbound connections that have not authenticated yet (the
// security and muxer handshakes). A connection takes a slot of the
// resource manager's system limit (MaxConnections) from its accept; ~300
// connections that only sent the multistream header held every slot for
// go-libp2p's 15 s accept timeout, again and again, and reset honest
// peers' handshakes.
const (
	// handshakeTimeout bounds an inbound connection's security and muxer
	// negotiation (go-libp2p's default is 15 s); an honest handshake on a
	// loaded machine takes well under a second.
	handshakeTimeout = 5 * time.Second
	// maxHandshakesPerIP bounds the inbound connections of one remote IP
	// still negotiating; beyond it a new one is closed at accept (counted in
	// peermesh_host_inbound_handshakes_refused_total). go-libp2p's own
	// per-IP limit exempts loopback and counts established connections too.
	maxHandshakesPerIP = 8
	// minHandshakes is the least number of inbound connections that may
	// negotiate at once, whatever MaxConnections (see handshakeLimit).
	minHandshakes = 8
)

// handshakeLimit bounds the inbound connections negotiating at once, from
// every IP together (the resource manager's transient scope): half of
// MaxConnections, at least minHandshakes, so that however many IPs an
// attacker has, established peers keep the other half of the slots.
func handshakeLimit(maxConnections int) int {
	return max(minHandshakes, maxConnections/2)
}

// handshakeMetrics are the host's bounds on negotiating connections.
type handshakeMetrics struct {
	inProgress prometheus.Gauge
	refused    prometheus.Counter
}

func newHandshakeMetrics(reg prometheus.Registerer) (*handshakeMetrics, error) {
	m := &handshakeMetrics{
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_host_inbound_handshakes",
			Help: "Inbound connections negotiating security and muxer (per IP at most 8, in all at most max(8, MaxConnections/2))."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "peermesh_host_inbound_handshakes_refused_total",
			Help: "Inbound connections closed at accept because their IP already had 8 negotiating."}),
	}
	r := actorkit.Registrar{Reg: reg}
	m.inProgress = actorkit.Add(&r, m.inProgress)
	m.refused = actorkit.Add(&r, m.refused)
	return m, r.Err()
}

// handshakeLimiter wraps the resource manager: an inbound connection from
// an IP with maxHandshakesPerIP connections still negotiating is refused
// at accept; a connection stops counting once it authenticated (SetPeer)
// or closed (Done).
type handshakeLimiter struct {
	network.ResourceManager
	perIP   int
	metrics *handshakeMetrics

	mu   sync.Mutex
	open map[netip.Addr]int
}

func newHandshakeLimiter(rm network.ResourceManager, perIP int, m *handshakeMetrics) *handshakeLimiter {
	return &handshakeLimiter{ResourceManager: rm, perIP: perIP, metrics: m, open: make(map[netip.Addr]int)}
}

// OpenConnection implements network.ResourceManager.
func (l *handshakeLimiter) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	if dir != network.DirInbound {
		return l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	}
	ip, ok := endpointIP(endpoint)
	if !ok {
		return l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	}
	l.mu.Lock()
	if l.open[ip] >= l.perIP {
		l.mu.Unlock()
		l.metrics.refused.Inc()
		return nil, fmt.Errorf("%d inbound connections from %s still negotiating: %w", l.perIP, ip, network.ErrResourceLimitExceeded)
	}
	l.open[ip]++
	l.mu.Unlock()
	l.metrics.inProgress.Inc()
	scope, err := l.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil {
		l.release(ip)
		return nil, err
	}
	return &handshakeScope{ConnManagementScope: scope, authenticated: sync.OnceFunc(func() { l.release(ip) })}, nil
}

func (l *handshakeLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip) // bounded by the IPs negotiating now
	}
	l.mu.Unlock()
	l.metrics.inProgress.Dec()
}

// negotiating is the number of inbound connections from ip still
// negotiating.
func (l *handshakeLimiter) negotiating(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip]
}

// handshakeScope is an inbound connection's scope that releases its
// handshake slot once, when the peer authenticated or the connection ended.
type handshakeScope struct {
	network.ConnManagementScope
	authenticated func()
}

func (s *handshakeScope) SetPeer(p peer.ID) error {
	s.authenticated()
	return s.ConnManagementScope.SetPeer(p)
}

func (s *handshakeScope) Done() {
	s.authenticated()
	s.ConnManagementScope.Done()
}

func endpointIP(a ma.Multiaddr) (netip.Addr, bool) {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}

// withHandshakeTimeout replaces go-libp2p's connection upgrader, whose
// accept timeout is a fixed 15 s, with one made the same way but with
// handshakeTimeout (an fx decorator: libp2p.New has no option for it).
func withHandshakeTimeout() libp2p.Option {
	return libp2p.WithFxOption(fx.Decorate(fx.Annotate(
		func(_ transport.Upgrader, secs []sec.SecureTransport, muxers []tptu.StreamMuxer, psk pnet.PSK,
			rm network.ResourceManager, gater connmgr.ConnectionGater) (transport.Upgrader, error) {
			return tptu.New(secs, muxers, psk, rm, gater, tptu.WithAcceptTimeout(handshakeTimeout))
		},
		fx.ParamTags(``, `name:"security"`),
	)))
}

// limitsWithHandshakes sets the system connection limit (MaxConnections)
// and the transient one (handshakeLimit) on the defaults.
func limitsWithHandshakes(maxConnections int) rcmgr.ConcreteLimitConfig {
	conns := rcmgr.LimitVal(maxConnections)
	transient := rcmgr.LimitVal(handshakeLimit(maxConnections))
	return rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{Conns: conns, ConnsInbound: conns, ConnsOutbound: conns},
		// The transient scope also holds our outbound dials until they
		// authenticate (at most the dial pool's 10): room for them on top.
		Transient: rcmgr.ResourceLimits{Conns: transient + 32, ConnsInbound: transient},
	}.Build(rcmgr.DefaultLimits.AutoScale())
}
