package metadata

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/internal/actorkit"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

// Deps are what the metadata actor needs besides its Config.
type Deps struct {
	// Host serves and opens metadata streams.
	Host host.Host
	// PeerManager receives a pmv1.PeerMetadata per exchange (nil: none).
	PeerManager *actor.PID
	Registerer  prometheus.Registerer
	Logger      *slog.Logger
}

// Props builds the metadata actor; an invalid cfg makes Props fail.
func Props(cfg Config, deps Deps, opts ...actor.PropsOption) (*actor.Props, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		deps.Logger.Warn("metadata metrics not exported", "err", err)
	}
	return actorkit.Props(func() actor.Actor {
		a := &metadataActor{cfg: cfg, deps: deps, m: m, q: newQueue(cfg.MaxInFlight, cfg.MaxQueued)}
		a.local.Store(&Info{Cluster: cfg.Cluster, HasCluster: true, Shards: slices.Clone(cfg.Shards)})
		return a
	}, opts...), nil
}

type metadataActor struct {
	cfg  Config
	deps Deps
	m    *metrics
	q    *queue
	// local is read by the stream handler goroutines; only the actor
	// stores it.
	local atomic.Pointer[Info]
	// ctx ends the exchanges in flight when the actor stops.
	ctx    context.Context
	cancel context.CancelFunc
}

func (a *metadataActor) Receive(c actor.Context) {
	switch msg := c.Message().(type) {
	case *actor.Started:
		a.ctx, a.cancel = context.WithCancel(context.Background())
		a.deps.Host.SetStreamHandler(ProtocolID, a.serve)
	case *actor.Stopping:
		a.deps.Host.RemoveStreamHandler(ProtocolID)
		a.cancel()
	case *wakuv1.SetLocalMetadata:
		shards := slices.Clone(msg.GetShards())
		slices.Sort(shards)
		a.local.Store(&Info{Cluster: msg.GetClusterId(), HasCluster: true, Shards: slices.Compact(shards)})
		a.deps.Logger.Debug("metadata: local shards", "cluster", msg.GetClusterId(), "shards", shards)
	case *pmv1.PeerConnected:
		id, err := peer.IDFromBytes(msg.GetPeerId())
		if err != nil {
			return
		}
		start, dropped := a.q.connected(id)
		switch {
		case dropped:
			a.m.exchanges.WithLabelValues("dropped").Inc()
		case start:
			a.exchange(c, id)
		}
		a.m.queued.Set(float64(len(a.q.waiting)))
	case *pmv1.PeerMetadata:
		a.finished(c, msg)
	case *wakuv1.GetMetadataStatus:
		l := a.local.Load()
		c.Respond(&wakuv1.MetadataStatus{ClusterId: l.Cluster, Shards: l.Shards,
			InFlight: uint32(len(a.q.inFlight)), Queued: uint32(len(a.q.waiting))})
	}
}

// exchange asks p for its metadata on a goroutine, which reports back as
// PeerMetadata (the actor's own message, sent to itself).
func (a *metadataActor) exchange(c actor.Context, p peer.ID) {
	a.m.inFlight.Set(float64(len(a.q.inFlight)))
	local := *a.local.Load()
	self, root, ctx := c.Self(), c.ActorSystem().Root, a.ctx
	go func() {
		remote, err := Request(ctx, a.deps.Host, p, local, a.cfg.Timeout)
		out := &pmv1.PeerMetadata{PeerId: []byte(p)}
		if err != nil {
			out.Error = err.Error()
		} else {
			out.Shards = remote.Shards
			if remote.HasCluster {
				out.ClusterId = proto.Uint32(remote.Cluster)
			}
		}
		root.Send(self, out)
	}()
}

func (a *metadataActor) finished(c actor.Context, msg *pmv1.PeerMetadata) {
	id := peer.ID(msg.GetPeerId())
	next, more := a.q.done(id)
	local := a.local.Load()
	result := "ok"
	switch {
	case msg.GetError() != "":
		result = "failed"
		a.deps.Logger.Debug("metadata exchange failed", "peer", id, "err", msg.GetError())
	case msg.ClusterId == nil:
		result = "no_cluster"
		a.deps.Logger.Info("metadata: peer did not say its cluster", "peer", id)
	case msg.GetClusterId() != local.Cluster:
		result = "other_cluster"
		a.deps.Logger.Info("metadata: peer is on another cluster", "peer", id, "cluster", msg.GetClusterId(), "ours", local.Cluster)
	default:
		a.deps.Logger.Debug("metadata exchanged", "peer", id, "cluster", msg.GetClusterId(), "shards", msg.GetShards())
	}
	a.m.exchanges.WithLabelValues(result).Inc()
	if a.deps.PeerManager != nil {
		c.Send(a.deps.PeerManager, msg)
	}
	if more {
		a.exchange(c, next)
	}
	a.m.inFlight.Set(float64(len(a.q.inFlight)))
	a.m.queued.Set(float64(len(a.q.waiting)))
}

// serve answers an inbound metadata stream on the stream's goroutine.
func (a *metadataActor) serve(s network.Stream) {
	_, err := Serve(s, *a.local.Load(), a.cfg.Timeout)
	if err != nil {
		a.m.served.WithLabelValues("failed").Inc()
		a.deps.Logger.Debug("metadata request not answered", "peer", s.Conn().RemotePeer(), "err", err)
		return
	}
	a.m.served.WithLabelValues("ok").Inc()
}
