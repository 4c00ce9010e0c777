package router

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
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
	// PeerExchange, if set, receives every pubsubv1.PeerExchangeReceived
	// (the PX peers of accepted PRUNEs), typically the peer manager; unset,
	// PX is counted and dropped.
	PeerExchange *actor.PID
	// Heartbeat, if set, is the heartbeat actor: the router registers with
	// it at start for a Tick named "gossipsub" every Config.HeartbeatInterval.
	// Unset, the embedder sends the router heartbeatv1.Tick itself.
	Heartbeat *actor.PID
	// Dialer, if set, is the dial pool (package actors/dialer): disconnected
	// Config.DirectPeers are redialed by sending it dialerv1.DialPeer.
	// Unset, those redials are skipped and counted in
	// libp2p_gossipsub_direct_redials_total{result="no_dialer"}.
	Dialer *actor.PID
}
