package sim

import (
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// LoopbackHost returns a real go-libp2p host listening on 127.0.0.1 only
// (TCP, Noise, Yamux; no relay, no metrics, no resource limits so that an
// attack test measures peermesh's bounds rather than libp2p's), closed when
// the test ends.
func LoopbackHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := NewLoopbackHost()
	if err != nil {
		tb.Fatalf("sim: loopback host: %v", err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// NewLoopbackHost is LoopbackHost for a caller that closes the host itself
// (a test holding thousands of short-lived hosts would otherwise keep them
// all in memory until it ends).
func NewLoopbackHost() (host.Host, error) {
	return libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
}
