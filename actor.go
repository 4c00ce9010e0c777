package peermesh

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/internal/actorkit"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// nodeActor is the root of a node's actor tree: it spawns and supervises the
// children and translates the API of messages/api/v1 into their messages.
// It holds no policy: which peers to dial or graft is decided by its children.
type nodeActor struct {
	n           *Node
	heartbeat   *actor.PID
	storage     *actor.PID
	dialer      *actor.PID
	peermanager *actor.PID
	router      *actor.PID
	metadata    *actor.PID
	discovery   *actor.PID
	// shards is what the metadata actor was last told we relay.
	shards      []uint32
	topics      map[string]*topicState
	watchers    map[string]*actor.PID
	stopping    bool
	reconnected bool
	// lastMesh is the mesh peer set last sent to the peer manager.
	lastMesh     string
	meshReported bool
}

func newNodeActor(n *Node) *nodeActor {
	return &nodeActor{n: n, topics: map[string]*topicState{}, watchers: map[string]*actor.PID{}}
}

// Receive implements actor.Actor.
func (a *nodeActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Terminated:
		a.forget(msg.GetWho())

	case *apiv1.GetInfo:
		ctx.Respond(a.info())
	case *apiv1.GetPeers:
		a.peers(ctx)
	case *apiv1.AddPeer:
		a.addPeer(ctx, msg.GetMultiaddr())
	case *apiv1.Subscribe:
		a.subscribe(ctx, msg)
	case *apiv1.Unsubscribe:
		a.unsubscribe(ctx, msg)
	case *apiv1.Publish:
		a.publish(ctx, msg)
	case *apiv1.GetMesh:
		a.mesh(ctx)
	case *apiv1.GetScores:
		a.scores(ctx)
	case *apiv1.Watch:
		a.watch(ctx, msg)
	case *apiv1.Unwatch:
		out := &apiv1.Unwatched{}
		if w := a.target(ctx, msg.GetWatcher()); w != nil {
			_, out.Found = a.watchers[w.String()]
			delete(a.watchers, w.String())
			a.n.metrics.watchers.Set(float64(len(a.watchers)))
		}
		if ctx.Sender() != nil {
			ctx.Respond(out)
		}
	case *apiv1.Stop:
		a.stop(ctx)
	case *pubsubv1.RegisterValidator:
		if a.router == nil {
			ctx.Respond(&pubsubv1.ValidatorRegistered{Topic: msg.GetTopic(), Error: errNoRouter})
			return
		}
		ctx.Forward(a.router)

	// From the router.
	case *pubsubv1.Joined:
		a.joined(ctx, msg)
	case *pubsubv1.Subscribed:
		a.routerSubscribed(ctx, msg)
	case *pubsubv1.Left:
	case *pubsubv1.Delivered:
		a.deliver(ctx, msg)

	// From the libp2p event adapter (peermanager.NetEvents): to the peer
	// manager, and to watchers.
	case *pmv1.PeerConnected:
		a.toPeerManager(ctx, msg)
		if a.metadata != nil {
			ctx.Send(a.metadata, msg)
		}
		dir := "inbound"
		if msg.GetDirection() == peerv1.Direction_DIRECTION_OUTBOUND {
			dir = "outbound"
		}
		addr := ""
		if m, err := multiaddr.NewMultiaddrBytes(msg.GetRemoteAddr()); err == nil {
			addr = m.String()
		}
		a.tellWatchers(ctx, &apiv1.PeerConnected{PeerId: peer.ID(msg.GetPeerId()).String(), Direction: dir, Address: addr})
	case *pmv1.PeerDisconnected:
		a.toPeerManager(ctx, msg)
		a.tellWatchers(ctx, &apiv1.PeerDisconnected{PeerId: peer.ID(msg.GetPeerId()).String()})
	case *pmv1.IdentifyCompleted:
		a.toPeerManager(ctx, msg)
	case *pmv1.PeerProtocolsUpdated:
		a.toPeerManager(ctx, msg)

	// Answers to the node's own requests to its children.
	case *heartbeatv1.Tick:
		switch msg.GetName() {
		case reconnectTick:
			a.reconnectWhenLoaded(ctx)
		case meshTick:
			a.reportMesh(ctx)
		}
	case *pmv1.NodesConnected:
		for _, r := range msg.GetResults() {
			if r.GetConnected() {
				a.n.log.Info("static node connected", "node", r.GetNode())
			} else {
				a.n.log.Warn("static node not connected", "node", r.GetNode(), "err", r.GetError())
			}
		}
	case *pubsubv1.PeerExchangeReceived:
		adds, skipped := pxAddPeers(msg)
		for _, add := range adds {
			if a.peermanager != nil {
				ctx.Request(a.peermanager, add)
			}
		}
		a.n.metrics.px.WithLabelValues("added").Add(float64(len(adds)))
		a.n.metrics.px.WithLabelValues("skipped").Add(float64(skipped))
	case *pmv1.PeerAdded:
		if msg.GetError() != "" {
			a.n.log.Debug("px peer not added", "err", msg.GetError())
		}
	case *pmv1.ReconnectStarted:
		a.n.log.Info("reconnecting to stored peers", "dialing", msg.GetDialing(), "deferred", msg.GetDeferred(), "err", msg.GetError())
	}
}

func (a *nodeActor) toPeerManager(ctx actor.Context, msg proto.Message) {
	if a.peermanager != nil {
		ctx.Send(a.peermanager, msg)
	}
}

func (a *nodeActor) tellWatchers(ctx actor.Context, msg proto.Message) {
	for _, w := range a.watchers {
		ctx.Send(w, msg)
	}
}

const (
	errNoRouter = "the pubsub router is not running in this node"
)

func (a *nodeActor) start(ctx actor.Context) {
	log := a.n.log
	if a.n.children == nil {
		a.n.children = a.n.buildChildProps(ctx.Self())
	}
	cp := a.n.children
	spawn := func(props *actor.Props, name string) *actor.PID {
		if props == nil {
			return nil
		}
		pid, err := ctx.SpawnNamed(props, name)
		if err != nil {
			log.Error("spawn child actor", "name", name, "err", err)
			return nil
		}
		return pid
	}
	// The heartbeat first: storage registers its flush tick with it.
	a.heartbeat = spawn(cp.heartbeat, "heartbeat")
	a.storage = spawn(cp.storage, "storage")
	a.dialer = spawn(cp.dialer, "dialer")
	a.peermanager = spawn(cp.peermanager, "peermanager")
	a.metadata = spawn(cp.metadata, "metadata")
	a.discovery = spawn(cp.discovery, "discovery")
	a.shards = a.n.cfg.shards(a.n.cfg.PubsubTopics)
	a.router = spawn(cp.router, "router")
	// The router registers its own gossipsub heartbeat (Deps.Heartbeat).
	if a.router != nil && a.heartbeat != nil && a.peermanager != nil {
		ctx.Request(a.heartbeat, &heartbeatv1.Register{Name: meshTick, Interval: durationpb.New(meshTickInterval)})
	}
	if a.router != nil {
		for _, t := range a.n.cfg.PubsubTopics {
			st := a.state(t)
			st.configured = true
			ctx.Request(a.router, &pubsubv1.Join{Topic: t})
		}
	} else {
		log.Info("relay is off: no pubsub topic is joined", "topics", a.n.cfg.PubsubTopics)
	}
	if len(a.n.cfg.StaticNodes) > 0 && a.peermanager != nil {
		ctx.Request(a.peermanager, &pmv1.ConnectToNodes{Nodes: a.n.cfg.staticNodes(), Source: dialerv1.DialSource_DIAL_SOURCE_STATIC})
	}
	if a.n.cfg.PeerPersistence && a.heartbeat != nil && a.peermanager != nil {
		// Reconnect to stored peers once the peer manager has loaded them:
		// poll its status on a short tick until then (nwaku's
		// reconnectPeers at start, without its sleep).
		ctx.Request(a.heartbeat, &heartbeatv1.Register{Name: reconnectTick, Interval: durationpb.New(reconnectPoll)})
	}
}

// meshTick refreshes the peer manager's view of the mesh peers, which it
// protects from its inbound and colocation pruning. The router does not
// report mesh changes, so the node polls it.
const (
	meshTick         = "node.mesh"
	meshTickInterval = 2 * time.Second
)

// reportMesh sends the peer manager the union of every joined topic's mesh
// when it differs from the last report.
func (a *nodeActor) reportMesh(ctx actor.Context) {
	topics := a.joinedTopics()
	union := map[peer.ID]struct{}{}
	inTurn(len(topics), func(i int, next func()) {
		ask(ctx, a.router, &pubsubv1.GetMesh{Topic: topics[i]}, a.n.cfg.RequestTimeout, func(m *pubsubv1.Mesh, err error) {
			for _, raw := range m.GetMesh() {
				union[peer.ID(raw)] = struct{}{}
			}
			next()
		})
	}, func() {
		ids := make([]string, 0, len(union))
		for id := range union {
			ids = append(ids, string(id))
		}
		sort.Strings(ids)
		key := strings.Join(ids, "\x00")
		if a.meshReported && key == a.lastMesh {
			return
		}
		a.meshReported, a.lastMesh = true, key
		msg := &pmv1.MeshPeersChanged{}
		for _, id := range ids {
			msg.PeerIds = append(msg.PeerIds, []byte(id))
		}
		a.toPeerManager(ctx, msg)
	})
}

// reconnectTick polls the peer manager until the stored peers are loaded.
const (
	reconnectTick = "node.reconnect"
	reconnectPoll = 200 * time.Millisecond
)

func (a *nodeActor) reconnectWhenLoaded(ctx actor.Context) {
	if a.reconnected {
		return
	}
	ask(ctx, a.peermanager, &pmv1.GetStatus{}, a.n.cfg.RequestTimeout, func(st *pmv1.Status, err error) {
		if err != nil || !st.GetLoaded() || a.reconnected {
			return
		}
		a.reconnected = true
		ctx.Request(a.heartbeat, &heartbeatv1.Unregister{Name: reconnectTick})
		ctx.Request(a.peermanager, &pmv1.ReconnectPeers{Protocol: a.n.cfg.relayCodec(),
			Backoff: durationpb.New(a.n.reconnectBackoff())})
	})
}

func (a *nodeActor) info() *apiv1.Info {
	topics := make([]string, 0, len(a.topics))
	for t, st := range a.topics {
		if st.joined {
			topics = append(topics, t)
		}
	}
	sort.Strings(topics)
	return &apiv1.Info{
		PeerId: a.n.host.ID().String(), ListenAddresses: a.n.Addrs(), Topics: topics,
		Profile: a.n.cfg.Profile, Version: Version, RelayReady: a.router != nil,
		EnrUri: a.n.ENR(), ClusterId: uint32(a.n.cfg.ClusterID),
	}
}

// peers lists the peer manager's books.
func (a *nodeActor) peers(ctx actor.Context) {
	ask(ctx, a.peermanager, &pmv1.GetPeers{}, a.n.cfg.RequestTimeout, func(ps *pmv1.Peers, err error) {
		if err != nil {
			ctx.Respond(&apiv1.Peers{Error: err.Error()})
			return
		}
		out := &apiv1.Peers{Error: ps.GetError()}
		for _, r := range ps.GetPeers() {
			out.Peers = append(out.Peers, apiPeer(r))
		}
		if a.router == nil {
			ctx.Respond(out)
			return
		}
		// The gossipsub score of each peer comes from the router.
		ask(ctx, a.router, &pubsubv1.GetScores{}, a.n.cfg.RequestTimeout, func(sc *pubsubv1.Scores, err error) {
			if err == nil {
				byID := make(map[string]float64, len(sc.GetPeers()))
				for _, s := range sc.GetPeers() {
					byID[peer.ID(s.GetPeer()).String()] = s.GetScore()
				}
				for _, p := range out.Peers {
					p.Score = byID[p.GetPeerId()]
				}
			}
			ctx.Respond(out)
		})
	})
}

// apiPeer converts a peer record to the API's strings.
func apiPeer(r *peerv1.PeerRecord) *apiv1.Peer {
	p := &apiv1.Peer{
		PeerId: peer.ID(r.GetPeerId()).String(), Protocols: r.GetProtocols(), Agent: r.GetAgent(), Shards: r.GetShards(),
		Connectedness:  enumName(r.GetConnectedness().String(), "CONNECTEDNESS_"),
		Direction:      enumName(r.GetDirection().String(), "DIRECTION_"),
		Origin:         enumName(r.GetOrigin().String(), "ORIGIN_"),
		FailedAttempts: r.GetFailedAttempts(), LastFailure: r.GetLastFailureTime(), NextDial: r.GetNextDialTime(),
		DialExcluded: r.GetDialExcluded(),
	}
	for _, b := range r.GetAddresses() {
		if m, err := multiaddr.NewMultiaddrBytes(b); err == nil {
			p.Addresses = append(p.Addresses, m.String())
		}
	}
	return p
}

// enumName turns CONNECTEDNESS_CAN_CONNECT into can_connect; UNSPECIFIED is "".
func enumName(s, prefix string) string {
	s = strings.ToLower(strings.TrimPrefix(s, prefix))
	if s == "unspecified" {
		return ""
	}
	return s
}

// addPeer is nwaku's connectPeer(source=api): the peer manager adds the
// peer and dials it through the pool; the answer follows the dial.
func (a *nodeActor) addPeer(ctx actor.Context, addr string) {
	ma, err := parsePeerAddr(addr)
	if err != nil {
		ctx.Respond(&apiv1.PeerAdded{Error: err.Error()})
		return
	}
	addr = ma.String()
	req := &pmv1.ConnectToNodes{Nodes: []string{addr}, Source: dialerv1.DialSource_DIAL_SOURCE_API}
	timeout := a.n.cfg.RequestTimeout + a.n.dialerConfig().DialTimeout
	ask(ctx, a.peermanager, req, timeout, func(nc *pmv1.NodesConnected, err error) {
		switch {
		case err != nil:
			ctx.Respond(&apiv1.PeerAdded{Error: fmt.Sprintf("connect %s: %v", addr, err)})
		case len(nc.GetResults()) != 1:
			ctx.Respond(&apiv1.PeerAdded{Error: fmt.Sprintf("connect %s: %d results %s", addr, len(nc.GetResults()), nc.GetError())})
		default:
			r := nc.GetResults()[0]
			out := &apiv1.PeerAdded{PeerId: peer.ID(r.GetPeerId()).String(), Error: r.GetError()}
			if !r.GetConnected() && out.Error == "" {
				out.Error = "not connected"
			}
			ctx.Respond(out)
		}
	})
}

func (a *nodeActor) scores(ctx actor.Context) {
	ask(ctx, a.router, &pubsubv1.GetScores{}, a.n.cfg.RequestTimeout, func(s *pubsubv1.Scores, err error) {
		if err != nil {
			ctx.Respond(&apiv1.Scores{Error: err.Error()})
			return
		}
		out := &apiv1.Scores{}
		for _, p := range s.GetPeers() {
			id, err := peer.IDFromBytes(p.GetPeer())
			if err != nil {
				continue
			}
			ps := &apiv1.PeerScore{PeerId: id.String(), Score: p.GetScore(), AppSpecific: p.GetAppSpecific(),
				IpColocationFactor: p.GetIpColocation(), BehaviourPenalty: p.GetBehaviour(), TopicScore: p.GetTopicScore()}
			for _, t := range p.GetTopics() {
				ps.Topics = append(ps.Topics, &apiv1.TopicScore{Topic: t.GetTopic(), TimeInMesh: t.GetTimeInMesh(),
					FirstMessageDeliveries: t.GetFirstDeliveries(), MeshMessageDeliveries: t.GetMeshDeliveries(),
					InvalidMessageDeliveries: t.GetInvalidMessages(), MeshFailurePenalty: t.GetMeshFailurePenalty(),
					Total: t.GetTotal()})
			}
			out.Scores = append(out.Scores, ps)
		}
		ctx.Respond(out)
	})
}

// stop leaves every joined topic (the router PRUNEs the mesh), flushes the
// peer store and then answers Stopped; the caller stops the actor
// afterwards, which stops the children.
func (a *nodeActor) stop(ctx actor.Context) {
	a.stopping = true
	var topics []string
	if a.router != nil {
		topics = a.joinedTopics()
	}
	var errs []string
	finish := func() {
		out := &apiv1.Stopped{}
		if len(errs) > 0 {
			out.Error = strings.Join(errs, "; ")
		}
		ctx.Respond(out)
	}
	inTurn(len(topics), func(i int, next func()) {
		ask(ctx, a.router, &pubsubv1.Leave{Topic: topics[i]}, a.n.cfg.StopTimeout, func(l *pubsubv1.Left, err error) {
			if err != nil || l.GetError() != "" {
				errs = append(errs, fmt.Sprintf("leave %s: %v %s", topics[i], err, l.GetError()))
			}
			a.dropTopic(topics[i])
			next()
		})
	}, func() { a.recordShutdown(ctx, &errs, func() { a.flush(ctx, &errs, finish) }) })
}

// recordShutdown has the peer manager record every connected peer as
// disconnected now, then calls done. It comes before the flush (the
// records reach the storage actor before the peer manager answers, so the
// flush covers them) and before Node.Close closes the host, whose
// disconnect events would reach no actor: without it a restart found the
// peers connected at shutdown with no disconnect time, and redialed them
// inside the backoff our PRUNEs had just announced.
func (a *nodeActor) recordShutdown(ctx actor.Context, errs *[]string, done func()) {
	stopStep[*pmv1.ShutdownRecorded](a, ctx, a.peermanager, &pmv1.RecordShutdown{}, "record shutdown", errs, done)
}

// flush makes every accepted peer-store change durable, then calls done.
func (a *nodeActor) flush(ctx actor.Context, errs *[]string, done func()) {
	stopStep[*storagev1.Flushed](a, ctx, a.storage, &storagev1.Flush{}, "flush peer store", errs, done)
}

// stopStep asks child to for one step of the stop (bounded by StopTimeout),
// notes a failure in errs and then calls done; a child that is not running
// has nothing to do.
func stopStep[T interface {
	proto.Message
	GetError() string
}](a *nodeActor, ctx actor.Context, to *actor.PID, req proto.Message, what string, errs *[]string, done func()) {
	if to == nil {
		done()
		return
	}
	ask(ctx, to, req, a.n.cfg.StopTimeout, func(r T, err error) {
		if err != nil || r.GetError() != "" {
			*errs = append(*errs, fmt.Sprintf("%s: %v %s", what, err, r.GetError()))
		}
		done()
	})
}

// ask sends req to a child and continues with its typed answer on the
// actor's own goroutine (ReenterAfter), so the node keeps serving other
// requests meanwhile. A missing child, a timeout or an answer of another
// type continues with an error naming the request.
func ask[T proto.Message](ctx actor.Context, to *actor.PID, req proto.Message, timeout time.Duration, then func(T, error)) {
	var zero T
	if to == nil {
		then(zero, fmt.Errorf("%T: the actor for it is not running in this node", req))
		return
	}
	actorkit.Ask(ctx, to, req, timeout, func(res any, err error) {
		if err != nil {
			then(zero, fmt.Errorf("%T: %w", req, err))
			return
		}
		v, ok := res.(T)
		if !ok {
			then(zero, fmt.Errorf("%T: unexpected answer %T", req, res))
			return
		}
		then(v, nil)
	})
}

// inTurn runs step(0) … step(n-1) one after the other — each calls next when
// its answer has arrived — and then done.
func inTurn(n int, step func(i int, next func()), done func()) {
	var run func(i int)
	run = func(i int) {
		if i == n {
			done()
			return
		}
		step(i, func() { run(i + 1) })
	}
	run(0)
}
