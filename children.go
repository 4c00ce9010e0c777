package peermesh

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/peermesh/peermesh/actors/dialer"
	"github.com/peermesh/peermesh/actors/heartbeat"
	"github.com/peermesh/peermesh/actors/peermanager"
	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/score"
	"github.com/peermesh/peermesh/waku/discovery"
	"github.com/peermesh/peermesh/waku/metadata"
	"github.com/peermesh/peermesh/waku/sharding"
	"github.com/peermesh/peermesh/wire"
)

// deps are the child actors the node assembles, as props builders, so tests
// can stand in for a child that does I/O.
type deps struct {
	// router builds the gossipsub router; nil means the node runs without
	// pubsub and refuses pubsub requests with an error.
	router func(n *Node, self *actor.PID) *actor.Props
	// peermanager, when set, replaces the peer manager (tests observe what
	// the node tells it).
	peermanager func(n *Node, self *actor.PID) *actor.Props
	// host and backend, when set, replace the libp2p host and the peer
	// store New builds (NewWithHost).
	host    host.Host
	backend storage.Backend
	// discovery, when set, adjusts the discovery actor's configuration
	// (tests shorten its intervals).
	discovery func(*discovery.Config)
}

func defaultDeps() deps { return deps{router: routerProps} }

// routerProps builds the gossipsub router for the node's profile. It
// registers its own heartbeat with the node's heartbeat actor, redials
// direct peers through the dial pool, and hands the PX peers of accepted
// PRUNEs to the node (which verifies them and adds them to the peer
// manager).
func routerProps(n *Node, self *actor.PID) *actor.Props {
	deps := router.Deps{Host: n.host, Registerer: n.reg, Logger: n.log,
		Heartbeat: child(self, "heartbeat"), Dialer: child(self, "dialer"), PeerExchange: self}
	return router.Props(n.routerConfig(), deps, n.metrics.mailboxes.Option("router"))
}

// routerConfig is the router's configuration for the node's profile and
// options.
func (n *Node) routerConfig() router.Config {
	p, err := wire.ParseProfile(n.cfg.Profile)
	if err != nil {
		// Validate accepted the profile, so this is a programming error;
		// the router then refuses every request with it.
		n.log.Error("router profile", "err", err)
	}
	cfg := router.DefaultConfig(p)
	cfg.Mesh.EnablePX = n.cfg.RelayPeerExchange
	cfg.MaxTopics = n.cfg.MaxTopics
	if p == wire.ProfileWaku {
		if n.cfg.StrictScoring {
			cfg.Mesh.Score = score.StrictWakuTopicParams()
		}
		cfg.MessageValidator = n.wakuValidator()
		cfg.SubscriptionFilter = wakuSubscriptionFilter(n.cfg.ClusterID, n.cfg.PubsubTopics)
	}
	return cfg
}

// wakuSubscriptionFilter accepts a peer's subscription to a shard topic of
// our cluster or to a topic we are configured with (reliability case M9):
// another cluster's shards and arbitrary strings would only cost state.
func wakuSubscriptionFilter(cluster uint16, configured []string) func(string) bool {
	configured = slices.Clone(configured)
	return func(topic string) bool {
		if s, err := sharding.ParseTopic(topic); err == nil {
			return s.Cluster == cluster
		}
		return slices.Contains(configured, topic)
	}
}

// childProps are built once, on the node actor's first start: the children
// register their metrics when their props are built, and a restarted node
// actor respawns its children under the same names (so the same PIDs).
type childProps struct {
	heartbeat, storage, dialer, peermanager, router *actor.Props
	// metadata runs the Waku metadata protocol (waku profile only).
	metadata *actor.Props
	// discovery runs discv5 rounds and peer exchange (waku profile only).
	discovery *actor.Props
}

// child is the PID the child named name of parent has (protoactor names
// children "<parent id>/<name>").
func child(parent *actor.PID, name string) *actor.PID {
	return actor.NewPID(parent.GetAddress(), parent.GetId()+"/"+name)
}

// relayCodec is the protocol that makes a peer a relay peer for the peer
// manager: the profile's preferred pubsub protocol.
func (c Config) relayCodec() string {
	if c.Profile == ProfileLibp2p {
		return "/meshsub/"
	}
	return peermanager.WakuRelayCodec
}

// peerManagerConfig is the peer manager's configuration; Config.Validate
// checks it, so a node never starts with a peer manager that refuses every
// request.
func (c Config) peerManagerConfig() peermanager.Config {
	pc := peermanager.DefaultConfig()
	pc.MaxConnections = c.MaxConnections
	pc.PeerStoreCapacity = c.peerStoreCapacity()
	pc.ColocationLimit = c.IPColocationLimit
	pc.RelayCodec = c.relayCodec()
	pc.OutRelayPeers = c.OutRelayPeers
	if c.Profile == ProfileWaku {
		pc.ClusterID, pc.CheckCluster = uint32(c.ClusterID), true
		pc.Shards = c.shards(c.PubsubTopics)
	}
	return pc
}

// reconnectBackoff is how long after its disconnect a stored peer is
// redialed at start (nwaku's reconnectPeers backoff): the longest gossipsub
// backoff our PRUNEs announce (on leaving a topic at stop, or pruning) plus
// 2 s of slack, so our GRAFT after a restart does not land inside the
// backoff the peer keeps for us (which it would penalise).
func (n *Node) reconnectBackoff() time.Duration {
	m := n.routerConfig().Mesh
	return max(m.PruneBackoff, m.UnsubscribeBackoff) + 2*time.Second
}

// dialerConfig is the dial pool's configuration; addPeer derives its answer
// timeout from the same value.
func (n *Node) dialerConfig() dialer.Config { return dialer.DefaultConfig() }

func (n *Node) buildChildProps(self *actor.PID) *childProps {
	log := n.log
	mb := n.metrics.mailboxes
	hb := heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Registerer: n.reg, Logger: log}, mb.Option("heartbeat"))
	hbPID := child(self, "heartbeat")
	st := storage.Props(n.storageCfg, storage.Deps{Backend: n.backend, Registerer: n.reg, Logger: log, Heartbeat: hbPID},
		mb.Option("storage"))
	dl := dialer.Props(n.dialerConfig(), dialer.Deps{Dialer: dialer.NewLibp2pDialer(n.host), Registerer: n.reg, Logger: log},
		mb.Option("dialer"))
	hostNet := peermanager.HostNetwork{Host: n.host}
	pm := peermanager.Props(n.cfg.peerManagerConfig(), peermanager.Deps{
		Self: n.host.ID(), Dialer: child(self, "dialer"), Storage: child(self, "storage"), Heartbeat: hbPID,
		Closer: hostNet, Streams: hostNet, Connections: hostNet, Registerer: n.reg, Logger: log,
	}, mb.Option("peermanager"))
	if n.deps.peermanager != nil {
		pm = n.deps.peermanager(n, self)
	}
	cp := &childProps{heartbeat: hb, storage: st, dialer: dl, peermanager: pm}
	if n.cfg.Profile == ProfileWaku {
		mcfg := metadata.DefaultConfig()
		mcfg.Cluster, mcfg.Shards = uint32(n.cfg.ClusterID), n.cfg.shards(n.cfg.PubsubTopics)
		md, err := metadata.Props(mcfg, metadata.Deps{Host: n.host, PeerManager: child(self, "peermanager"), Registerer: n.reg, Logger: log},
			mb.Option("metadata"))
		if err != nil {
			log.Error("metadata protocol not started", "err", err)
		}
		cp.metadata = md
		cp.discovery = n.discoveryProps(self, hbPID)
	}
	if n.deps.router != nil {
		cp.router = n.deps.router(n, self)
	}
	return cp
}

// discoveryProps builds the discovery actor when the node runs discv5 or
// peer exchange (either side); nil otherwise.
func (n *Node) discoveryProps(self, heartbeat *actor.PID) *actor.Props {
	c := n.cfg
	if n.discv5 == nil && !c.PeerExchange && c.PeerExchangeNode == "" {
		return nil
	}
	dc := discovery.DefaultConfig()
	dc.Cluster = c.ClusterID
	for _, s := range c.shards(c.PubsubTopics) {
		dc.Shards = append(dc.Shards, uint16(s))
	}
	dc.BootstrapNodes = c.Discv5BootstrapNodes
	dc.PeerExchange = c.PeerExchange
	if c.PeerExchangeNode != "" {
		if a, err := parsePeerAddr(c.PeerExchangeNode); err == nil {
			dc.PeerExchangeNode = a.String()
		}
	}
	deps := discovery.Deps{Host: n.host, PeerManager: child(self, "peermanager"), Heartbeat: heartbeat,
		Registerer: n.reg, Logger: n.log}
	if n.discv5 != nil {
		dc.Discv5, deps.Finder = true, n.discv5
	}
	if n.deps.discovery != nil {
		n.deps.discovery(&dc)
	}
	props, err := discovery.Props(dc, deps, n.metrics.mailboxes.Option("discovery"))
	if err != nil {
		n.log.Error("discovery not started", "err", err)
		return nil
	}
	return props
}
