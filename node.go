package peermesh

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actors/peermanager"
	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/slogx"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/discovery"
)

// PeerStoreFile is the peer store's file name inside the data directory.
const PeerStoreFile = "peers.db"

// Version is the node's version, answered by GetInfo and /debug/v1/version.
const Version = "v0.1.0-dev"

// Node is one peermesh node: its libp2p host, its metrics and, once spawned,
// its actor tree.
type Node struct {
	cfg      Config
	log      *slog.Logger
	host     host.Host
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer
	metrics  *nodeMetrics
	deps     deps
	// backend is the peer store's backend, opened here so a bad file stops
	// New with an error naming it; closed after the actors stopped, unless
	// the caller gave it (NewWithHost).
	backend     storage.Backend
	ownsBackend bool
	storageCfg  storage.Config
	// children is touched only by the node actor.
	children *childProps

	mu     sync.Mutex
	sys    *actor.ActorSystem
	pid    *actor.PID
	own    bool
	closed bool
	events *peermanager.NetEvents
	// enr is the node's Waku node record ("" when it has none), built once
	// the host listens.
	enr string
	// discv5 runs discv5 (Discv5Discovery); it keeps the record then.
	discv5 *discovery.Discv5
}

// New validates cfg, loads or creates the node key and starts the libp2p
// host (listening). The node's actors run once Spawn or Start is called.
func New(cfg Config) (*Node, error) {
	return newNode(cfg, defaultDeps())
}

// NewWithHost is New on a libp2p host the caller built: a simulated
// network's (internal/sim runs whole nodes on x/simlibp2p hosts), or an
// embedder's with transports of its own. The node owns h from then on
// (Close closes it); cfg.Key, ListenAddress and TCPPort are not used.
// peerStore, when not nil, is the peer store instead of the one New opens
// from cfg (DataDir, PeerPersistence); the node does not close it, so a
// simulation can restart a node on the store it left.
func NewWithHost(cfg Config, h host.Host, peerStore storage.Backend) (*Node, error) {
	if h == nil {
		return nil, errors.New("peermesh: NewWithHost needs a host")
	}
	d := defaultDeps()
	d.host, d.backend = h, peerStore
	return newNode(cfg, d)
}

func newNode(cfg Config, d deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.DisableRelay {
		d.router = nil // nwaku's --relay=false: no gossipsub at all
	}
	n := &Node{cfg: cfg, log: log, deps: d}
	if cfg.Registerer == nil {
		r := prometheus.NewRegistry()
		n.reg, n.gatherer = r, r
	} else {
		n.reg = cfg.Registerer
		if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
			n.gatherer = g
		}
	}
	key := cfg.Key
	if d.host != nil {
		key = d.host.Peerstore().PrivKey(d.host.ID()) // for the node record
	}
	if key == nil && d.host == nil {
		var err error
		if cfg.DataDir != "" {
			var created bool
			if key, created, err = LoadOrCreateKey(cfg.DataDir); err != nil {
				return nil, err
			}
			if created {
				log.Info("created node key", "path", filepath.Join(cfg.DataDir, KeyFile))
			}
		} else if key, _, err = crypto.GenerateSecp256k1Key(rand.Reader); err != nil {
			return nil, fmt.Errorf("generate node key: %w", err)
		}
	}
	m, err := newNodeMetrics(n.reg)
	if err != nil {
		return nil, err
	}
	n.metrics = m
	n.storageCfg = storage.DefaultConfig()
	switch {
	case d.backend != nil:
		n.storageCfg.Backend = storage.BackendMemory // the kind only; the backend is the caller's
		n.backend = d.backend
	case cfg.PeerPersistence && cfg.DataDir != "":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		n.storageCfg.Path = filepath.Join(cfg.DataDir, PeerStoreFile)
	default:
		n.storageCfg.Backend = storage.BackendMemory
	}
	if n.backend == nil {
		if n.backend, err = openPeerStore(n.storageCfg, cfg.MoveCorruptPeerStore, log); err != nil {
			return nil, fmt.Errorf("open peer store: %w", err)
		}
		n.ownsBackend = true
	}
	if n.host = d.host; n.host == nil {
		if n.host, err = newHost(cfg, key, n.reg); err != nil {
			_ = n.closeBackend()
			return nil, err
		}
	}
	n.enr = n.buildENR(key)
	if cfg.Discv5Discovery {
		if n.discv5, err = n.listenDiscv5(key); err != nil {
			_ = n.host.Close()
			_ = n.closeBackend()
			return nil, err
		}
	}
	return n, nil
}

// closeBackend closes the peer store if the node opened it.
func (n *Node) closeBackend() error {
	if !n.ownsBackend {
		return nil
	}
	return n.backend.Close()
}

// ID is the node's libp2p peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// ENR is the node's Waku node record (RFC 31) in text form, "enr:…": its
// addresses, relay capability and shards, signed with the node key. Empty
// in the libp2p profile, and when the node key is not secp256k1 (ADR 0016).
// With discv5 it is the record discv5 announces (with its UDP port, and the
// IP peers see when Discv5ENRAutoUpdate).
func (n *Node) ENR() string {
	if n.discv5 != nil {
		return n.discv5.ENR()
	}
	return n.enr
}

// Host is the node's libp2p host, for inspection; the node's actors own its
// connections and streams.
func (n *Node) Host() host.Host { return n.host }

// Gatherer serves the node's metrics; nil when Config.Registerer is not a
// Gatherer.
func (n *Node) Gatherer() prometheus.Gatherer { return n.gatherer }

// Addrs are the node's full listen multiaddrs, /p2p/<id> included.
func (n *Node) Addrs() []string {
	out := make([]string, 0, len(n.host.Addrs()))
	for _, a := range n.host.Addrs() {
		out = append(out, a.String()+"/p2p/"+n.host.ID().String())
	}
	return out
}

// Spawn starts the node actor as a child of parent — a caller's
// ActorSystem.Root or one of its actors — and returns its PID. The node's
// children (storage, dialer, peer manager, router, …) live under it.
func (n *Node) Spawn(parent actor.SpawnerContext) (*actor.PID, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pid != nil {
		return nil, errors.New("peermesh: node already spawned")
	}
	if n.closed {
		return nil, errors.New("peermesh: node closed")
	}
	props := actorkit.Props(func() actor.Actor { return newNodeActor(n) }, n.metrics.mailboxes.Option("node"))
	pid, err := parent.SpawnNamed(props, n.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("spawn node %q: %w", n.cfg.Name, err)
	}
	n.sys, n.pid = parent.ActorSystem(), pid
	// Connection and identify events go to the node actor, which forwards
	// them to the peer manager and tells watchers.
	if n.events, err = peermanager.StartNetEvents(n.host, n.sys.Root, pid); err != nil {
		_ = n.sys.Root.StopFuture(pid).Wait()
		n.pid = nil
		return nil, fmt.Errorf("subscribe to libp2p events: %w", err)
	}
	return pid, nil
}

// Start spawns the node in an ActorSystem of its own, for programs that do
// not otherwise use protoactor.
func (n *Node) Start() (*actor.PID, error) {
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			// protoactor logs at INFO every dead letter, which a normal
			// shutdown produces (children stopping while their watchers go
			// away): noise in an operator's log.
			return slog.New(slogx.MinLevel{Handler: n.log.Handler(), Min: slog.LevelWarn}).With("lib", "protoactor")
		}),
	))
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		sys.Shutdown()
		return nil, err
	}
	n.mu.Lock()
	n.own = true
	n.mu.Unlock()
	return pid, nil
}

// PID is the node actor's address (nil before Spawn).
func (n *Node) PID() *actor.PID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid
}

// System is the ActorSystem the node was spawned in (nil before Spawn).
func (n *Node) System() *actor.ActorSystem {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sys
}

// Close stops the node gracefully — leave every topic (PRUNE), flush the
// peer store, stop the actors — then closes the libp2p host, all within
// ctx. It is safe to call more than once.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	sys, pid, own := n.sys, n.pid, n.own
	n.mu.Unlock()

	var errs []error
	if pid != nil {
		if stopped, err := call[*apiv1.Stopped](ctx, n, &apiv1.Stop{}); err != nil {
			errs = append(errs, err)
		} else if stopped.GetError() != "" {
			errs = append(errs, errors.New(stopped.GetError()))
		}
		if err := n.events.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop libp2p event adapter: %w", err))
		}
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("stop node actor: %w", err))
		}
	}
	if n.discv5 != nil {
		n.discv5.Close()
	}
	if err := n.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	if err := n.closeBackend(); err != nil {
		errs = append(errs, fmt.Errorf("close peer store: %w", err))
	}
	if own {
		sys.Shutdown()
	}
	return errors.Join(errs...)
}

// call sends msg to the node actor and returns its answer of type T,
// waiting until ctx is done or RequestTimeout passes.
func call[T proto.Message](ctx context.Context, n *Node, msg proto.Message) (T, error) {
	return callChild[T](ctx, n, "", msg)
}

// callChild is call to the node actor's child named name ("" is the node
// actor itself).
func callChild[T proto.Message](ctx context.Context, n *Node, name string, msg proto.Message) (T, error) {
	var zero T
	n.mu.Lock()
	sys, pid := n.sys, n.pid
	n.mu.Unlock()
	if pid == nil {
		return zero, errors.New("peermesh: node not spawned")
	}
	if name != "" {
		pid = child(pid, name)
	}
	timeout := n.cfg.RequestTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return zero, fmt.Errorf("%T: %w", msg, context.DeadlineExceeded)
	}
	res, err := actorkit.Request(sys.Root, pid, msg, timeout).Wait(ctx)
	if err != nil {
		return zero, fmt.Errorf("%T: %w", msg, err)
	}
	v, ok := res.(T)
	if !ok {
		return zero, fmt.Errorf("%T: unexpected answer %T", msg, res)
	}
	return v, nil
}

// answerError turns the error field of an answer into a Go error.
func answerError(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

// Info asks the node for its identity, addresses and topics.
func (n *Node) Info(ctx context.Context) (*apiv1.Info, error) {
	return call[*apiv1.Info](ctx, n, &apiv1.GetInfo{})
}

// Peers lists the peer store.
func (n *Node) Peers(ctx context.Context) ([]*apiv1.Peer, error) {
	out, err := call[*apiv1.Peers](ctx, n, &apiv1.GetPeers{})
	if err != nil {
		return nil, err
	}
	return out.GetPeers(), answerError(out.GetError())
}

// AddPeer stores and dials a peer given as a multiaddr with /p2p/<id>.
func (n *Node) AddPeer(ctx context.Context, addr string) (string, error) {
	out, err := call[*apiv1.PeerAdded](ctx, n, &apiv1.AddPeer{Multiaddr: addr})
	if err != nil {
		return "", err
	}
	return out.GetPeerId(), answerError(out.GetError())
}

// Mesh returns the mesh peers of every joined topic.
func (n *Node) Mesh(ctx context.Context) ([]*apiv1.TopicMesh, error) {
	out, err := call[*apiv1.Mesh](ctx, n, &apiv1.GetMesh{})
	if err != nil {
		return nil, err
	}
	return out.GetTopics(), answerError(out.GetError())
}

// Scores returns every known peer's gossipsub score with its components.
func (n *Node) Scores(ctx context.Context) ([]*apiv1.PeerScore, error) {
	out, err := call[*apiv1.Scores](ctx, n, &apiv1.GetScores{})
	if err != nil {
		return nil, err
	}
	return out.GetScores(), answerError(out.GetError())
}

// Publish sends data on topic and returns the message id. It returns once
// the topic's actor has queued the message to its peers; while at least
// half of the topic's mesh cannot take our forwards in time the node holds
// the publish first (publish admission, ADR 0030), at most 1 s by default,
// so a caller publishing as fast as Publish returns is slowed to what the
// node forwards. A held publish whose ctx ends is still published; Publish
// returns ctx's error. When 256 publishes are already held the answer is an
// error (mesh.ErrAdmissionFull's text) and the message is not published.
func (n *Node) Publish(ctx context.Context, topic string, data []byte) ([]byte, error) {
	out, err := call[*apiv1.Published](ctx, n, &apiv1.Publish{Topic: topic, Data: data})
	if err != nil {
		return nil, err
	}
	return out.GetMessageId(), answerError(out.GetError())
}

// Subscribe delivers topic's messages to subscriber as MessageReceived.
func (n *Node) Subscribe(ctx context.Context, topic string, subscriber *actor.PID) error {
	if subscriber == nil {
		// The sender of a blocking call is a short-lived future, which
		// would become the subscriber and lose every message.
		return errors.New("peermesh: Subscribe needs a subscriber PID")
	}
	out, err := call[*apiv1.Subscribed](ctx, n, &apiv1.Subscribe{Topic: topic, Subscriber: Ref(subscriber)})
	if err != nil {
		return err
	}
	return answerError(out.GetError())
}

// Unsubscribe stops deliveries of topic to subscriber.
func (n *Node) Unsubscribe(ctx context.Context, topic string, subscriber *actor.PID) error {
	return n.unsubscribe(ctx, &apiv1.Unsubscribe{Topic: topic, Subscriber: Ref(subscriber)})
}

// UnsubscribeAndLeave is Unsubscribe that also lets go of a topic the
// configuration joined (nwaku's DELETE /relay/v1/subscriptions): the node
// leaves it once no local subscriber is left.
func (n *Node) UnsubscribeAndLeave(ctx context.Context, topic string, subscriber *actor.PID) error {
	return n.unsubscribe(ctx, &apiv1.Unsubscribe{Topic: topic, Subscriber: Ref(subscriber), Release: true})
}

func (n *Node) unsubscribe(ctx context.Context, req *apiv1.Unsubscribe) error {
	out, err := call[*apiv1.Unsubscribed](ctx, n, req)
	if err != nil {
		return err
	}
	return answerError(out.GetError())
}

// Ref converts a PID to the ActorRef of API messages.
func Ref(pid *actor.PID) *apiv1.ActorRef {
	if pid == nil {
		return nil
	}
	return &apiv1.ActorRef{Address: pid.GetAddress(), Id: pid.GetId()}
}

// PIDOf converts an ActorRef back to a PID (nil for an unset ref).
func PIDOf(r *apiv1.ActorRef) *actor.PID {
	if r.GetId() == "" {
		return nil
	}
	return actor.NewPID(r.GetAddress(), r.GetId())
}

// Registerer is where the node's metrics are registered; helpers built next
// to the node (like cmd/node's REST cache) register theirs there too.
func (n *Node) Registerer() prometheus.Registerer { return n.reg }

// DiscoveryStatus asks the discovery actor (discv5 and peer exchange) for
// its figures; an error when the node runs neither.
func (n *Node) DiscoveryStatus(ctx context.Context) (*discoveryv1.DiscoveryStatus, error) {
	return callChild[*discoveryv1.DiscoveryStatus](ctx, n, "discovery", &discoveryv1.GetDiscoveryStatus{})
}

// PeerStatus asks the peer manager for its figures: relay peers in and out
// against their targets, connections, candidates (the periodic status
// line and nwaku's 3-minute peer log read them).
func (n *Node) PeerStatus(ctx context.Context) (*pmv1.Status, error) {
	return callChild[*pmv1.Status](ctx, n, "peermanager", &pmv1.GetStatus{})
}
