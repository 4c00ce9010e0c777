package discovery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
)

// Finder runs discv5 lookups: the I/O edge of a discv5 round.
type Finder interface {
	// Find reads at most n distinct node records (RLP) from random
	// lookups, at most maxReads nodes in all, within timeout or until ctx
	// ends, and reports how many nodes the routing table holds. It runs on
	// a goroutine of the actor's.
	Find(ctx context.Context, n, maxReads int, timeout time.Duration) (records [][]byte, tableSize int, err error)
	// ENR is the node record discv5 announces.
	ENR() string
}

// Deps are what the discovery actor needs besides its Config.
type Deps struct {
	// Host serves peer exchange and opens its requests (nil: neither).
	Host host.Host
	// Finder runs discv5 rounds; required when Config.Discv5.
	Finder Finder
	// PeerManager receives AddPeer and answers GetStatus and
	// ConnectToNodes; Heartbeat sends the round ticks.
	PeerManager *actor.PID
	Heartbeat   *actor.PID
	// Rand samples the records served (nil: seeded at random).
	Rand       *rand.Rand
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}
