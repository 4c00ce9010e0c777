package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// wakuRelayID is spelled out here rather than taken from peermesh's wire
// package: the go side must be configured from the Waku spec, so that a
// wrong constant in peermesh shows up as a failed negotiation.
const wakuRelayID = protocol.ID("/vac/waku/relay/2.0.0")

// heartbeat drives both implementations in these tests: 5× faster than the
// 1 s default so meshes form and gossip flows within a few seconds, yet slow
// enough for 8 nodes under -race on 2 cores.
const heartbeat = 200 * time.Millisecond

// newHost returns a go-libp2p host on 127.0.0.1 with TCP, Noise and Yamux
// only and no resource limits (many streams in one process), closed when the
// test ends.
func newHost(t testing.TB, extra ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append([]libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&lpnet.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}, extra...)...)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// connect dials b from a, retrying with a forced direct dial: on a loaded
// 2-core machine a loopback Noise handshake occasionally misses its deadline,
// and a plain retry would only be answered from the swarm's dial backoff.
func connect(t testing.TB, a, b host.Host) {
	t.Helper()
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(lpnet.WithForceDirectDial(context.Background(), "interop retry"), 15*time.Second)
		err = a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()})
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("connect %s → %s: %v", a.ID().ShortString(), b.ID().ShortString(), err)
}

// eventually polls cond every 20 ms until it returns nil, and fails the test
// with cond's last error once d has passed.
func eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		<-tk.C
	}
}

// received is one delivery to a node's local subscriber.
type received struct {
	id   string  // message id as the receiving implementation computed it
	from peer.ID // the peer it came from; "" for a local publish
	msg  *pb.Message
}

// inbox collects one node's deliveries, keyed by data (every test message's
// data is unique). It is written by the node's reader goroutine and read by
// the test.
type inbox struct {
	mu  sync.Mutex
	got map[string]received
}

func newInbox() *inbox { return &inbox{got: map[string]received{}} }

func (b *inbox) add(data string, r received) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.got[data]; !dup {
		b.got[data] = r
	}
}

func (b *inbox) get(data string) (received, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.got[data]
	return r, ok
}

// missing returns the first of want not yet delivered and how many are missing.
func (b *inbox) missing(want []string) (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	first, n := "", 0
	for _, w := range want {
		if _, ok := b.got[w]; !ok {
			if n == 0 {
				first = w
			}
			n++
		}
	}
	return first, n
}

// ------------------------------------------------------------ peermesh side

// pmNode is a peermesh router on its own host and actor system, with one
// subscribed topic whose deliveries land in in.
type pmNode struct {
	name   string
	host   host.Host
	sys    *actor.ActorSystem
	router *actor.PID
	reg    *prometheus.Registry
	in     *inbox
}

func newPM(t testing.TB, name string, cfg router.Config) *pmNode {
	t.Helper()
	return newPMOn(t, name, cfg, newHost(t))
}

// newPMOn starts a peermesh router on h (e.g. a host with a given identity).
func newPMOn(t testing.TB, name string, cfg router.Config, h host.Host) *pmNode {
	t.Helper()
	sys := actortest.NewSystem(t)
	reg := prometheus.NewRegistry()
	pid := sys.Root.Spawn(router.Props(cfg, router.Deps{Host: h, Registerer: reg}))
	// Registered after the host's cleanup, so it runs first: the router
	// removes its handler and notifee from a live host.
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	n := &pmNode{name: name, host: h, sys: sys, router: pid, reg: reg, in: newInbox()}
	n.request(t, &pubsubv1.GetScores{}) // answered only once started: the stream handler is installed
	return n
}

func (n *pmNode) String() string { return n.name }

// request sends msg to the router and waits for its answer.
func (n *pmNode) request(t testing.TB, msg proto.Message) any {
	t.Helper()
	res, err := n.sys.Root.RequestFuture(n.router, msg, 10*time.Second).Result()
	if err != nil {
		t.Fatalf("%s: request %T: %v", n, msg, err)
	}
	return res
}

// join joins topic with params (nil: the profile's) without subscribing.
func (n *pmNode) join(t testing.TB, topic string, params *pubsubv1.TopicParams) {
	t.Helper()
	if j := n.request(t, &pubsubv1.Join{Topic: topic, Params: params}).(*pubsubv1.Joined); j.GetError() != "" {
		t.Fatalf("%s: join %s: %s", n, topic, j.GetError())
	}
}

// subscribe makes a probe the topic's local subscriber and drains its
// Delivered events into n.in until the test ends.
func (n *pmNode) subscribe(t testing.TB, topic string) {
	t.Helper()
	sub := actortest.NewProbe(t, n.sys)
	sub.Request(n.router, &pubsubv1.Subscribe{Topic: topic})
	sub.ExpectMessage(&pubsubv1.Subscribed{Topic: topic})
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			r, ok := sub.Next(50 * time.Millisecond)
			if !ok {
				continue
			}
			if d, isD := r.Message.(*pubsubv1.Delivered); isD && d.GetTopic() == topic {
				n.in.add(string(d.GetMessage().GetData()), received{
					id: string(d.GetMessageId()), from: peer.ID(d.GetReceivedFrom()), msg: toGoPB(d.GetMessage())})
			}
		}
	}()
	// Registered after the probe's own cleanup, so it runs first: the drain
	// goroutine is the only reader of the probe and must end before it stops.
	t.Cleanup(func() { close(done); <-finished })
}

// validateWith registers a validator of topic that accepts every message
// after delay (a slow validator, as RLN proof checks are in Waku) and records
// each request's ReceivedFrom in the returned inbox, keyed by data.
func (n *pmNode) validateWith(t testing.TB, topic string, delay time.Duration) *inbox {
	t.Helper()
	v := actortest.NewProbe(t, n.sys)
	v.Request(n.router, &pubsubv1.RegisterValidator{Topic: topic})
	v.ExpectMessage(&pubsubv1.ValidatorRegistered{Topic: topic})
	seen := newInbox()
	done, finished := make(chan struct{}), make(chan struct{})
	var answers sync.WaitGroup
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			r, ok := v.Next(50 * time.Millisecond)
			if !ok {
				continue
			}
			vm, isVM := r.Message.(*pubsubv1.ValidateMessage)
			if !isVM {
				continue
			}
			seen.add(string(vm.GetMessage().GetData()), received{id: string(vm.GetMessageId()),
				from: peer.ID(vm.GetReceivedFrom()), msg: toGoPB(vm.GetMessage())})
			// Answered from a timer, not by blocking this loop: requests
			// are validated concurrently, as a real validator would.
			answers.Add(1)
			time.AfterFunc(delay, func() {
				defer answers.Done()
				n.sys.Root.Send(r.Sender, &pubsubv1.ValidationResult{MessageId: vm.GetMessageId(),
					Outcome: pubsubv1.ValidationOutcome_VALIDATION_OUTCOME_ACCEPT})
			})
		}
	}()
	t.Cleanup(func() { close(done); <-finished; answers.Wait() })
	return seen
}

func (n *pmNode) publish(t testing.TB, topic string, data []byte) *pubsubv1.Published {
	t.Helper()
	p := n.request(t, &pubsubv1.Publish{Topic: topic, Data: data}).(*pubsubv1.Published)
	if p.GetError() != "" {
		t.Fatalf("%s: publish %q: %s", n, shortData(data), p.GetError())
	}
	return p
}

func (n *pmNode) mesh(t testing.TB, topic string) *pubsubv1.Mesh {
	t.Helper()
	m := n.request(t, &pubsubv1.GetMesh{Topic: topic}).(*pubsubv1.Mesh)
	if m.GetError() != "" {
		t.Fatalf("%s: mesh of %s: %s", n, topic, m.GetError())
	}
	return m
}

// inMesh reports whether p is in n's mesh of topic.
func (n *pmNode) inMesh(t testing.TB, topic string, p peer.ID) bool {
	return slices.ContainsFunc(n.mesh(t, topic).GetMesh(), func(b []byte) bool { return peer.ID(b) == p })
}

// sees reports whether n knows p as a subscriber of topic.
func (n *pmNode) sees(t testing.TB, topic string, p peer.ID) bool {
	return slices.ContainsFunc(n.mesh(t, topic).GetPeers(), func(b []byte) bool { return peer.ID(b) == p })
}

// scores describes n's peer scores, for failure messages.
func (n *pmNode) scores(t testing.TB) string {
	t.Helper()
	var parts []string
	for _, ps := range n.request(t, &pubsubv1.GetScores{}).(*pubsubv1.Scores).GetPeers() {
		parts = append(parts, fmt.Sprintf("%s=%.2f (topic %.2f, P7 %.2f)", peer.ID(ps.GetPeer()).ShortString(),
			ps.GetScore(), ps.GetTopicScore(), ps.GetBehaviour()))
	}
	return strings.Join(parts, ", ")
}

// metric sums every series of the named metric family in n's registry (0 if
// it has none yet).
func (n *pmNode) metric(t testing.TB, name string) float64 {
	t.Helper()
	fams, err := n.reg.Gather()
	if err != nil {
		t.Fatalf("%s: gather metrics: %v", n, err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// outboundProtocol returns the protocol of n's outbound pubsub stream to p
// (what peermesh negotiated as the dialer of that stream), "" if none yet.
func (n *pmNode) outboundProtocol(p peer.ID) protocol.ID {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		for _, s := range c.GetStreams() {
			proto := s.Protocol()
			if s.Stat().Direction == lpnet.DirOutbound && (proto == wakuRelayID || strings.HasPrefix(string(proto), "/meshsub/")) {
				return proto
			}
		}
	}
	return ""
}

// toGoPB converts peermesh's wire message to go-libp2p-pubsub's type, so the
// tests inspect both sides' deliveries with one set of helpers.
func toGoPB(m interface {
	GetFrom() []byte
	GetData() []byte
	GetSeqno() []byte
	GetTopic() string
	GetSignature() []byte
	GetKey() []byte
}) *pb.Message {
	topic := m.GetTopic()
	return &pb.Message{From: m.GetFrom(), Data: m.GetData(), Seqno: m.GetSeqno(), Topic: &topic,
		Signature: m.GetSignature(), Key: m.GetKey()}
}

// tickEvery sends every peermesh router a heartbeat Tick each interval until
// the test ends (the tests do not wire the heartbeat actor: this keeps both
// implementations on the same 200 ms heartbeat).
func tickEvery(t testing.TB, nodes []*pmNode, interval time.Duration) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				for _, n := range nodes {
					n.sys.Root.Send(n.router, &heartbeatv1.Tick{Now: timestamppb.Now()})
				}
			}
		}
	}()
	t.Cleanup(func() { close(done); <-finished })
}

// ---------------------------------------------------- go-libp2p-pubsub side

// goNode is a go-libp2p-pubsub gossipsub router on its own host.
type goNode struct {
	name   string
	host   host.Host
	ctx    context.Context // cancelled at cleanup: stops the router and the readers
	cancel context.CancelFunc
	ps     *pubsub.PubSub
	tr     *goTracer
	in     *inbox
	topics map[string]*pubsub.Topic
	subs   map[string]*pubsub.Subscription
	wg     sync.WaitGroup
}

// goOptions configures go-libp2p-pubsub as a peer of the given peermesh profile.
func goOptions(p wire.Profile) []pubsub.Option {
	if p == wire.ProfileWaku {
		// As go-waku does, but with IDONTWANT granted to the Waku id like
		// nwaku and peermesh do, and without the meshsub fallbacks so that a
		// working exchange proves the Waku id itself was negotiated.
		features := func(f pubsub.GossipSubFeature, id protocol.ID) bool {
			if id != wakuRelayID {
				return false
			}
			return f == pubsub.GossipSubFeatureMesh || f == pubsub.GossipSubFeaturePX || f == pubsub.GossipSubFeatureIdontwant
		}
		return []pubsub.Option{
			pubsub.WithGossipSubProtocols([]protocol.ID{wakuRelayID}, features),
			pubsub.WithNoAuthor(), // StrictNoSign: no from, seqno, signature or key
			pubsub.WithMessageIdFn(func(m *pb.Message) string {
				sum := sha256.Sum256(m.GetData())
				return string(sum[:])
			}),
		}
	}
	// StrictSign is go's default; the id is pinned rather than left to the
	// default so that a change of go's default cannot silently desync the ids.
	return []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { return string(m.GetFrom()) + string(m.GetSeqno()) }),
	}
}

// goParams returns go's default gossipsub parameters on the tests' heartbeat.
func goParams() pubsub.GossipSubParams {
	params := pubsub.DefaultGossipSubParams()
	params.HeartbeatInterval = heartbeat
	return params
}

func newGo(t testing.TB, name string, p wire.Profile, params pubsub.GossipSubParams, extra ...pubsub.Option) *goNode {
	t.Helper()
	return newGoOn(t, name, p, params, newHost(t), extra...)
}

// newGoOn starts a go-libp2p-pubsub router on h (e.g. a host with a given
// identity, for a node that restarts as the same peer).
func newGoOn(t testing.TB, name string, p wire.Profile, params pubsub.GossipSubParams, h host.Host, extra ...pubsub.Option) *goNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &goNode{name: name, host: h, ctx: ctx, cancel: cancel, tr: newGoTracer(), in: newInbox(),
		topics: map[string]*pubsub.Topic{}, subs: map[string]*pubsub.Subscription{}}
	opts := append(goOptions(p), pubsub.WithGossipSubParams(params), pubsub.WithRawTracer(n.tr))
	ps, err := pubsub.NewGossipSub(ctx, h, append(opts, extra...)...)
	if err != nil {
		cancel()
		t.Fatalf("%s: new gossipsub: %v", name, err)
	}
	n.ps = ps
	// Registered after the host's cleanup, so it runs first: readers end
	// and the router stops before the host closes under it.
	t.Cleanup(func() { cancel(); n.wg.Wait() })
	return n
}

// stop stops the router and its readers and closes the host (a node going
// away; the cleanup does it again harmlessly).
func (n *goNode) stop() {
	n.cancel()
	n.wg.Wait()
	_ = n.host.Close()
}

func (n *goNode) String() string { return n.name }

// subscribe joins topic, subscribes and records deliveries (including our
// own publishes, which go delivers locally) in n.in.
func (n *goNode) subscribe(t testing.TB, topic string) {
	t.Helper()
	tp, err := n.ps.Join(topic)
	if err != nil {
		t.Fatalf("%s: join %s: %v", n, topic, err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatalf("%s: subscribe %s: %v", n, topic, err)
	}
	n.topics[topic], n.subs[topic] = tp, sub
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			// The router's context: go does not end a subscription when
			// the router stops, only when its context or the subscription is
			// cancelled.
			m, err := sub.Next(n.ctx)
			if err != nil {
				return
			}
			n.in.add(string(m.GetData()), received{id: m.ID, from: m.ReceivedFrom, msg: m.Message})
		}
	}()
}

// leave cancels the subscription and closes the topic: go PRUNEs its mesh
// and announces the unsubscription.
func (n *goNode) leave(t testing.TB, topic string) {
	t.Helper()
	n.subs[topic].Cancel()
	// Close refuses while the cancellation is still being processed.
	eventually(t, 10*time.Second, n.name+" closes "+topic, func() error { return n.topics[topic].Close() })
	delete(n.subs, topic)
	delete(n.topics, topic)
}

// validateSlowly makes go accept every message of topic after delay. go sends
// IDONTWANT before validation and forwards after it, so this holds back
// only n's forwards.
func (n *goNode) validateSlowly(t testing.TB, topic string, delay time.Duration) {
	t.Helper()
	err := n.ps.RegisterTopicValidator(topic, func(ctx context.Context, _ peer.ID, _ *pubsub.Message) bool {
		select {
		case <-time.After(delay):
			return true
		case <-ctx.Done():
			return false
		}
	})
	if err != nil {
		t.Fatalf("%s: register validator of %s: %v", n, topic, err)
	}
}

func (n *goNode) publish(t testing.TB, topic string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.topics[topic].Publish(ctx, data); err != nil {
		t.Fatalf("%s: publish %q: %v", n, shortData(data), err)
	}
}

// sees reports whether go knows p as a subscriber of topic.
func (n *goNode) sees(topic string, p peer.ID) bool {
	return slices.Contains(n.topics[topic].ListPeers(), p)
}

// goTracer records what go-libp2p-pubsub has no public query for: its mesh
// (from Graft/Prune), the protocol of each outbound stream, and the control
// messages it received and sent, per peer.
type goTracer struct {
	mu        sync.Mutex
	mesh      map[string]map[peer.ID]bool
	protocols map[peer.ID]protocol.ID
	recv      map[peer.ID]*controlLog
	sent      map[peer.ID]*controlLog
	dups      map[peer.ID]map[string]bool // ids of duplicates received, by sender
	rejects   map[string]string           // reason go rejected or ignored a message, by data
	timeline  map[peer.ID][]string        // control events per peer, for failure reports
	events    []string                    // graft/prune history, for failure messages
	start     time.Time
}

// controlLog is what one direction of one peer's traffic carried: control
// entries, and the data of the messages.
type controlLog struct {
	ihave     map[string]bool // message ids advertised
	iwant     map[string]bool // message ids requested
	idontwant map[string]bool // message ids declined
	data      map[string]bool // data of the messages carried
	prunes    []*pb.ControlPrune
}

func newGoTracer() *goTracer {
	return &goTracer{mesh: map[string]map[peer.ID]bool{}, protocols: map[peer.ID]protocol.ID{},
		recv: map[peer.ID]*controlLog{}, sent: map[peer.ID]*controlLog{}, dups: map[peer.ID]map[string]bool{},
		rejects: map[string]string{}, timeline: map[peer.ID][]string{}, start: time.Now()}
}

var _ pubsub.RawTracer = (*goTracer)(nil)

func (t *goTracer) Graft(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mesh[topic] == nil {
		t.mesh[topic] = map[peer.ID]bool{}
	}
	t.mesh[topic][p] = true
	t.events = append(t.events, fmt.Sprintf("%s graft %s", time.Since(t.start).Round(time.Millisecond), p.ShortString()))
}

func (t *goTracer) Prune(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh[topic], p)
	t.events = append(t.events, fmt.Sprintf("%s prune %s", time.Since(t.start).Round(time.Millisecond), p.ShortString()))
}

func (t *goTracer) meshEvents() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.events)
}

func (t *goTracer) OnNewOutboundStream(p peer.ID, proto protocol.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.protocols[p] = proto
}

func (t *goTracer) RecvRPC(rpc *pubsub.RPC)              { t.logRPC(t.recv, rpc.From(), rpc, "recv") }
func (t *goTracer) SendRPC(rpc *pubsub.RPC, p peer.ID)   { t.logRPC(t.sent, p, rpc, "sent") }
func (t *goTracer) OnClosedOutboundStream(peer.ID)       {}
func (t *goTracer) Join(string)                          {}
func (t *goTracer) Leave(string)                         {}
func (t *goTracer) ValidateMessage(*pubsub.Message)      {}
func (t *goTracer) DeliverMessage(*pubsub.Message)       {}
func (t *goTracer) ThrottlePeer(peer.ID)                 {}
func (t *goTracer) UndeliverableMessage(*pubsub.Message) {}
func (t *goTracer) DropRPC(*pubsub.RPC, peer.ID)         {}

func (t *goTracer) logRPC(logs map[peer.ID]*controlLog, p peer.ID, rpc *pubsub.RPC, dir string) {
	c := rpc.GetControl()
	if c == nil && len(rpc.GetPublish()) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l := logs[p]
	if l == nil {
		l = &controlLog{ihave: map[string]bool{}, iwant: map[string]bool{}, idontwant: map[string]bool{}, data: map[string]bool{}}
		logs[p] = l
	}
	for _, m := range rpc.GetPublish() {
		l.data[string(m.GetData())] = true
	}
	for _, ih := range c.GetIhave() {
		for _, id := range ih.GetMessageIDs() {
			l.ihave[id] = true
		}
	}
	for _, iw := range c.GetIwant() {
		for _, id := range iw.GetMessageIDs() {
			l.iwant[id] = true
		}
	}
	for _, dw := range c.GetIdontwant() {
		for _, id := range dw.GetMessageIDs() {
			l.idontwant[id] = true
		}
	}
	l.prunes = append(l.prunes, c.GetPrune()...)
	for _, g := range c.GetGraft() {
		t.note(p, "%s GRAFT %s", dir, g.GetTopicID())
	}
	for _, pr := range c.GetPrune() {
		t.note(p, "%s PRUNE %s backoff %d", dir, pr.GetTopicID(), pr.GetBackoff())
	}
	if n := len(c.GetIwant()); n > 0 && dir == "sent" {
		var ids []string
		for _, iw := range c.GetIwant() {
			for _, id := range iw.GetMessageIDs() {
				ids = append(ids, fmt.Sprintf("%x", id[max(0, len(id)-4):]))
			}
		}
		t.note(p, "sent IWANT %v", ids)
	}
}

// note appends a timestamped line to p's timeline (the last 200 kept);
// t.mu is held.
func (t *goTracer) note(p peer.ID, format string, args ...any) {
	line := fmt.Sprintf("%6.2fs ", time.Since(t.start).Seconds()) + fmt.Sprintf(format, args...)
	tl := append(t.timeline[p], line)
	if len(tl) > 200 {
		tl = tl[len(tl)-200:]
	}
	t.timeline[p] = tl
}

// eventsOf returns p's timeline: GRAFTs and PRUNEs both ways, IWANTs sent.
func (t *goTracer) eventsOf(p peer.ID) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.timeline[p])
}

func (t *goTracer) DuplicateMessage(m *pubsub.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dups[m.ReceivedFrom] == nil {
		t.dups[m.ReceivedFrom] = map[string]bool{}
	}
	t.dups[m.ReceivedFrom][m.ID] = true
}

func (t *goTracer) RejectMessage(m *pubsub.Message, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rejects[string(m.GetData())] = fmt.Sprintf("%s (from %s)", reason, m.ReceivedFrom.ShortString())
}

// rejected returns why go rejected or ignored the message with data d ("" if it did not).
func (t *goTracer) rejected(d string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rejects[d]
}

// summary describes, for failure messages, the gossip go exchanged with p.
func (t *goTracer) summary(p peer.ID) string {
	in, out := t.control(p, true), t.control(p, false)
	return fmt.Sprintf("from %s: IHAVE %d ids, IWANT %d, IDONTWANT %d, messages %d; to it: IHAVE %d, IWANT %d, IDONTWANT %d, messages %d",
		p.ShortString(), len(in.ihave), len(in.iwant), len(in.idontwant), len(in.data),
		len(out.ihave), len(out.iwant), len(out.idontwant), len(out.data))
}

// duplicateFrom reports whether a duplicate of id came from p.
func (t *goTracer) duplicateFrom(p peer.ID, id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dups[p][id]
}

func (t *goTracer) inMesh(topic string, p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mesh[topic][p]
}

func (t *goTracer) meshSize(topic string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.mesh[topic])
}

func (t *goTracer) protocol(p peer.ID) protocol.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.protocols[p]
}

// control returns a copy of the control traffic received from (recv) or sent
// to p.
func (t *goTracer) control(p peer.ID, recv bool) controlLog {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.sent[p]
	if recv {
		l = t.recv[p]
	}
	if l == nil {
		return controlLog{}
	}
	return controlLog{ihave: copySet(l.ihave), iwant: copySet(l.iwant), idontwant: copySet(l.idontwant), data: copySet(l.data), prunes: slices.Clone(l.prunes)}
}

func copySet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// shortData keeps failure messages readable when payloads are padded.
func shortData(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "…"
	}
	return string(b)
}

// errMissing formats "n of total missing" with the first one.
func errMissing(node fmt.Stringer, first string, n, total int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s misses %d of %d, first %q", node, n, total, shortData([]byte(first)))
}
