package meshbench

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// NewHosts starts n go-libp2p hosts as M1 prescribes: TCP on 127.0.0.1 with
// Noise and Yamux only, unlimited resources, no connection trimming. All of
// them report stream bytes to bw.
func NewHosts(n int, bw *metrics.BandwidthCounter) ([]host.Host, error) {
	hosts := make([]host.Host, 0, n)
	for i := range n {
		rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.InfiniteLimits))
		if err != nil {
			CloseHosts(hosts)
			return nil, fmt.Errorf("host %d: resource manager: %w", i, err)
		}
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(noise.ID, noise.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
			libp2p.ResourceManager(rm),
			libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
			libp2p.BandwidthReporter(bw),
			libp2p.DisableRelay(),
		)
		if err != nil {
			CloseHosts(hosts)
			return nil, fmt.Errorf("host %d: %w", i, err)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// Connect dials every edge of the topology.
func Connect(ctx context.Context, hosts []host.Host, edges []Edge) error {
	var errs []error
	for _, e := range edges {
		b := hosts[e.B]
		if err := hosts[e.A].Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
			errs = append(errs, fmt.Errorf("connect %d→%d: %w", e.A, e.B, err))
		}
	}
	return errors.Join(errs...)
}

// CloseHosts closes every host, ignoring errors: it runs on teardown.
func CloseHosts(hosts []host.Host) {
	for _, h := range hosts {
		_ = h.Close()
	}
}
