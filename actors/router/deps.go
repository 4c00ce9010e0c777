package router

import (
	"log/slog"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what the router needs from its embedder.
type Deps struct {
	// Host carries the pubsub streams: the router installs its stream
	// handler and network notifee at start and removes them at stop.
	Host host.Host
	// Key signs our messages under the libp2p profile (StrictSign); nil
	// takes the host's private key from its peerstore.
	Key crypto.PrivKey
	// Registerer receives every router, session and topic metric; nil keeps
	// them in a private registry.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}
