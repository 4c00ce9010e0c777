package peermesh

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/proctest"
	apiv1 "github.com/peermesh/peermesh/messages/api/v1"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
	"github.com/peermesh/peermesh/waku/message"
)

// fakeRouter answers the router API the node uses and reports every request
// to a probe, so the node's translation is tested without a network.
type fakeRouter struct {
	report *actor.PID
	subs   map[string][]*actor.PID
	meshID peer.ID
}

func (r *fakeRouter) Receive(ctx actor.Context) {
	msg := ctx.Message()
	if _, ok := msg.(actor.SystemMessage); ok {
		return
	}
	switch m := msg.(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped:
		return
	case *pubsubv1.Join:
		ctx.Respond(&pubsubv1.Joined{Topic: m.GetTopic()})
	case *pubsubv1.Subscribe:
		r.subs[m.GetTopic()] = append(r.subs[m.GetTopic()], ctx.Sender())
		ctx.Respond(&pubsubv1.Subscribed{Topic: m.GetTopic()})
	case *pubsubv1.Publish:
		for _, s := range r.subs[m.GetTopic()] {
			ctx.Send(s, &pubsubv1.Delivered{Topic: m.GetTopic(), MessageId: []byte("id"),
				Message: &gossipsubv1.Message{Data: m.GetData(), Topic: &m.Topic}, ReceivedFrom: []byte(r.meshID)})
		}
		ctx.Respond(&pubsubv1.Published{Topic: m.GetTopic(), MessageId: []byte("id"), Peers: 1})
	case *pubsubv1.Leave:
		ctx.Respond(&pubsubv1.Left{Topic: m.GetTopic()})
	case *pubsubv1.GetMesh:
		ctx.Respond(&pubsubv1.Mesh{Topic: m.GetTopic(), Mesh: [][]byte{[]byte(r.meshID)}})
	case *pubsubv1.GetScores:
		ctx.Respond(&pubsubv1.Scores{Peers: []*pubsubv1.PeerScore{{Peer: []byte(r.meshID), Score: 3, Behaviour: -1, TopicScore: 4,
			Topics: []*pubsubv1.TopicScore{{Topic: "/t", TimeInMesh: 0.5, MeshFailurePenalty: -0.25, Total: 4}}}}})
	case *pubsubv1.RegisterValidator:
		ctx.Respond(&pubsubv1.ValidatorRegistered{Topic: m.GetTopic()})
	}
	if r.report != nil {
		ctx.Send(r.report, msg)
	}
}

func testConfig(name string) Config {
	cfg := DefaultConfig()
	cfg.Name = name
	cfg.PubsubTopics = []string{"/t"}
	cfg.RequestTimeout = 3 * time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// spawnWithFakeRouter spawns a node whose router is a fakeRouter reporting
// to the returned probe.
func spawnWithFakeRouter(t *testing.T, sys *actor.ActorSystem) (*Node, *actor.PID, *actortest.Probe) {
	t.Helper()
	report := actortest.NewProbe(t, sys)
	meshID, _ := peer.Decode("16Uiu2HAmPLe7Mzm8TsYUubgCAW1aJoeFScxrLj8ppHFivPo97bUZ")
	n, err := newNode(testConfig("node"), deps{router: func(*Node, *actor.PID) *actor.Props {
		return actorkit.Props(func() actor.Actor {
			return &fakeRouter{report: report.PID(), subs: map[string][]*actor.PID{}, meshID: meshID}
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	// The configured topic is joined and the node subscribes itself.
	actortest.Fish(report, func(*pubsubv1.Join) bool { return true })
	actortest.Fish(report, func(*pubsubv1.Subscribe) bool { return true })
	return n, pid, report
}

func TestNodeJoinsConfiguredTopicsAndDeliversToSubscribersAndWatchers(t *testing.T) {
	sys := actortest.NewSystem(t)
	n, pid, _ := spawnWithFakeRouter(t, sys)
	sub := actortest.NewProbe(t, sys)
	watcher := actortest.NewProbe(t, sys)

	sub.Request(pid, &apiv1.Subscribe{Topic: "/t"})
	if s := actortest.Expect[*apiv1.Subscribed](sub); s.GetError() != "" {
		t.Fatal(s.GetError())
	}
	watcher.Request(pid, &apiv1.Watch{})
	if w := actortest.Expect[*apiv1.Watching](watcher); w.GetError() != "" {
		t.Fatal(w.GetError())
	}
	wm := &wakuv1.WakuMessage{Payload: []byte("hello"), ContentTopic: "/app/1/chat/proto", Timestamp: proto.Int64(42)}
	data, _ := proto.Marshal(wm)
	hash := message.HashOf("/t", wm).String()
	sub.Request(pid, &apiv1.Publish{Topic: "/t", Data: data})
	// The answer and the delivery travel different paths: either may come first.
	var got *apiv1.MessageReceived
	var pub *apiv1.Published
	for got == nil || pub == nil {
		r, ok := sub.Next(actortest.DefaultTimeout)
		if !ok {
			t.Fatalf("timed out: delivered %v, published %v", got, pub)
		}
		switch m := r.Message.(type) {
		case *apiv1.MessageReceived:
			got = m
		case *apiv1.Published:
			pub = m
		}
	}
	// Both the answer and the delivery name the message by its RFC 14 hash.
	if string(got.GetData()) != string(data) || got.GetTopic() != "/t" || got.GetReceivedFrom() == "" || got.GetReceivedAt() == nil ||
		got.GetMessageHash() != hash {
		t.Fatalf("subscriber got %v, want hash %s", got, hash)
	}
	if pub.GetError() != "" || string(pub.GetMessageId()) != "id" || pub.GetMessageHash() != hash {
		t.Fatalf("published %v, want hash %s", pub, hash)
	}
	if w := actortest.Expect[*apiv1.MessageReceived](watcher); string(w.GetData()) != string(data) {
		t.Fatalf("watcher got %v", w)
	}
	// The relay's rules apply to the API: a WakuMessage without content
	// topic is refused, naming the rule.
	bad, _ := proto.Marshal(&wakuv1.WakuMessage{Payload: []byte("x")})
	sub.Request(pid, &apiv1.Publish{Topic: "/t", Data: bad})
	if p := actortest.Expect[*apiv1.Published](sub); !strings.Contains(p.GetError(), "contentTopic is empty") {
		t.Fatalf("invalid WakuMessage published: %v", p)
	}
	watcher.Request(pid, &apiv1.Unwatch{})
	if u := actortest.Expect[*apiv1.Unwatched](watcher); !u.GetFound() {
		t.Fatal("Unwatch did not find the watcher")
	}
	info, err := n.Info(context.Background())
	if err != nil || len(info.GetTopics()) != 1 || info.GetTopics()[0] != "/t" || !info.GetRelayReady() {
		t.Fatalf("info %v %v", info, err)
	}
	if v := testutil.ToFloat64(n.metrics.subscribers); v != 1 {
		t.Fatalf("subscribers gauge %v", v)
	}
}

func TestNodeTranslatesMeshScoresAndForwardsValidators(t *testing.T) {
	sys := actortest.NewSystem(t)
	n, pid, report := spawnWithFakeRouter(t, sys)
	ctx := context.Background()
	mesh, err := n.Mesh(ctx)
	if err != nil || len(mesh) != 1 || mesh[0].GetTopic() != "/t" || len(mesh[0].GetPeerIds()) != 1 {
		t.Fatalf("mesh %v %v", mesh, err)
	}
	scores, err := n.Scores(ctx)
	// Every term reaches the API, P3b and the topic totals included.
	if err != nil || len(scores) != 1 || scores[0].GetScore() != 3 || scores[0].GetBehaviourPenalty() != -1 ||
		scores[0].GetTopicScore() != 4 || scores[0].GetTopics()[0].GetTimeInMesh() != 0.5 ||
		scores[0].GetTopics()[0].GetMeshFailurePenalty() != -0.25 || scores[0].GetTopics()[0].GetTotal() != 4 {
		t.Fatalf("scores %v %v", scores, err)
	}
	v := actortest.NewProbe(t, sys)
	v.Request(pid, &pubsubv1.RegisterValidator{Topic: "/t"})
	actortest.Expect[*pubsubv1.ValidatorRegistered](v)
	// The router saw the validator itself as the sender, not the node.
	actortest.Fish(report, func(*pubsubv1.RegisterValidator) bool { return true })
}

func TestNodeLimitsSubscribersAndUnsubscribeLeavesUnusedTopics(t *testing.T) {
	sys := actortest.NewSystem(t)
	_, pid, report := spawnWithFakeRouter(t, sys)
	a := actortest.NewProbe(t, sys)
	a.Request(pid, &apiv1.Subscribe{Topic: "/extra"})
	if s := actortest.Expect[*apiv1.Subscribed](a); s.GetError() != "" {
		t.Fatal(s.GetError())
	}
	actortest.Fish(report, func(j *pubsubv1.Join) bool { return j.GetTopic() == "/extra" })
	a.Request(pid, &apiv1.Unsubscribe{Topic: "/extra"})
	actortest.Expect[*apiv1.Unsubscribed](a)
	actortest.Fish(report, func(l *pubsubv1.Leave) bool { return l.GetTopic() == "/extra" })

	a.Request(pid, &apiv1.Subscribe{Topic: ""})
	if s := actortest.Expect[*apiv1.Subscribed](a); s.GetError() == "" {
		t.Fatal("empty topic accepted")
	}
}

func TestNodeStopLeavesEveryTopic(t *testing.T) {
	sys := actortest.NewSystem(t)
	n, _, report := spawnWithFakeRouter(t, sys)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	actortest.Fish(report, func(l *pubsubv1.Leave) bool { return l.GetTopic() == "/t" })
	if err := n.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNodeWithoutRouterRefusesPubsubClearly(t *testing.T) {
	sys := actortest.NewSystem(t)
	n, err := newNode(testConfig("bare"), deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if _, err := n.Spawn(sys.Root); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(context.Background(), "/t", []byte("x")); err == nil {
		t.Fatal("publish without a router succeeded")
	}
	if err := n.Subscribe(context.Background(), "/t", nil); err == nil {
		t.Fatal("Subscribe without a subscriber succeeded")
	}
}

// Two real hosts on loopback: AddPeer dials, both sides' watchers see the
// connection, and GetPeers lists the peer as connected.
func TestAddPeerConnectsAndWatchersSeePeerEvents(t *testing.T) {
	sys := actortest.NewSystem(t)
	var nodes []*Node
	var pids []*actor.PID
	for _, name := range []string{"a", "b"} {
		n, err := newNode(testConfig(name), deps{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		pid, err := n.Spawn(sys.Root)
		if err != nil {
			t.Fatal(err)
		}
		nodes, pids = append(nodes, n), append(pids, pid)
	}
	w := actortest.NewProbe(t, sys)
	w.Request(pids[1], &apiv1.Watch{})
	actortest.Expect[*apiv1.Watching](w)

	id, err := nodes[0].AddPeer(context.Background(), nodes[1].Addrs()[0])
	if err != nil || id != nodes[1].ID().String() {
		t.Fatalf("AddPeer: %q %v", id, err)
	}
	ev := actortest.Expect[*apiv1.PeerConnected](w)
	if ev.GetPeerId() != nodes[0].ID().String() || ev.GetDirection() != "inbound" {
		t.Fatalf("event %v", ev)
	}
	peers, err := nodes[0].Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range peers {
		found = found || (p.GetPeerId() == id && p.GetConnectedness() == "connected" && p.GetDirection() == "outbound")
	}
	if !found {
		t.Fatalf("peer %s not listed as connected: %v", id, peers)
	}
	if _, err := nodes[0].AddPeer(context.Background(), "/ip4/127.0.0.1/tcp/1"); err == nil {
		t.Fatal("AddPeer without /p2p/ succeeded")
	}
	if err := nodes[0].Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	actortest.Expect[*apiv1.PeerDisconnected](w)
}

// TestSmallMaxConnectionsWork (issue 10, item 4): a node with
// --max-connections of 4 (a phone, a light node) starts a peer manager that
// answers, connects to a peer of the same size and lists it; a capacity the
// peer manager would refuse is refused by Validate, naming the fields, so
// no node starts with a peer manager that refuses every request.
func TestSmallMaxConnectionsWork(t *testing.T) {
	sys := actortest.NewSystem(t)
	var nodes []*Node
	for _, name := range []string{"a", "b"} {
		cfg := testConfig(name)
		cfg.MaxConnections = 4
		n, err := newNode(cfg, deps{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		if _, err := n.Spawn(sys.Root); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	id, err := nodes[0].AddPeer(context.Background(), nodes[1].Addrs()[0])
	if err != nil || id != nodes[1].ID().String() {
		t.Fatalf("AddPeer with MaxConnections 4: %q %v", id, err)
	}
	peers, err := nodes[0].Peers(context.Background())
	if err != nil || len(peers) != 1 || peers[0].GetConnectedness() != "connected" {
		t.Fatalf("peers %v, err %v", peers, err)
	}
	for n := 1; n <= 10; n++ {
		cfg := DefaultConfig()
		cfg.MaxConnections = n
		if err := cfg.Validate(); err != nil {
			t.Fatalf("MaxConnections %d refused: %v", n, err)
		}
	}
	cfg := DefaultConfig()
	cfg.PeerStoreCapacity = 10 // below MaxConnections 50: the peer manager refuses it
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "PeerStoreCapacity") {
		t.Fatalf("Validate() = %v, want the peer manager's refusal naming PeerStoreCapacity", err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConnections = 0
	cfg.StaticNodes = []string{"/ip4/1.2.3.4/tcp/1"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"Config.MaxConnections", "Config.StaticNodes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
}

func TestKeyIsCreatedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateKey(dir)
	if err != nil || !created {
		t.Fatalf("first: %v %v", created, err)
	}
	k2, created, err := LoadOrCreateKey(dir)
	if err != nil || created || !k1.Equals(k2) {
		t.Fatalf("second: created=%v err=%v same=%v", created, err, k1.Equals(k2))
	}
	if _, err := ParseKey("zz"); err == nil {
		t.Fatal("bad key parsed")
	}
}

// The node tells the peer manager which peers are in a mesh (so it protects
// them), on its mesh tick and only when the set changed.
func TestMeshPeersAreReportedToThePeerManager(t *testing.T) {
	sys := actortest.NewSystem(t)
	pmProbe := actortest.NewProbe(t, sys)
	meshID, _ := peer.Decode("16Uiu2HAmPLe7Mzm8TsYUubgCAW1aJoeFScxrLj8ppHFivPo97bUZ")
	n, err := newNode(testConfig("node"), deps{
		router: func(*Node, *actor.PID) *actor.Props {
			return actorkit.Props(func() actor.Actor { return &fakeRouter{subs: map[string][]*actor.PID{}, meshID: meshID} })
		},
		peermanager: func(*Node, *actor.PID) *actor.Props {
			// Stands in for the peer manager: forwards what it is told.
			return actorkit.Props(func() actor.Actor {
				return actor.ReceiveFunc(func(c actor.Context) {
					if m, ok := c.Message().(*pmv1.MeshPeersChanged); ok {
						c.Send(pmProbe.PID(), m)
					}
				})
			})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	pid, err := n.Spawn(sys.Root)
	if err != nil {
		t.Fatal(err)
	}
	// A subscription is answered once the topic is joined; then tick by
	// hand: time is a message.
	sub := actortest.NewProbe(t, sys)
	sub.Request(pid, &apiv1.Subscribe{Topic: "/t"})
	sub.ExpectMessage(&apiv1.Subscribed{Topic: "/t"})
	tick := &heartbeatv1.Tick{Name: meshTick}
	pmProbe.Send(pid, tick)
	// A report from before the join (the heartbeat ticks too) is empty.
	got := actortest.Fish(pmProbe, func(m *pmv1.MeshPeersChanged) bool { return len(m.GetPeerIds()) > 0 })
	if len(got.GetPeerIds()) != 1 || peer.ID(got.GetPeerIds()[0]) != meshID {
		t.Fatalf("reported %v", got)
	}
	pmProbe.Send(pid, tick)
	pmProbe.ExpectNoMessage(300 * time.Millisecond)
}

// logLines is a slog destination the test can search, safe for the node's
// goroutines.
type logLines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{}
}

func newLogLines() *logLines { return &logLines{written: make(chan struct{}, 1)} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// await waits until the log holds s, at most d.
func (l *logLines) await(t *testing.T, d time.Duration, s string) {
	t.Helper()
	timeout := time.After(d)
	for !strings.Contains(l.String(), s) {
		select {
		case <-l.written:
		case <-timeout:
			t.Fatalf("no %s in the log within %s; log:\n%s", s, d, l.String())
		}
	}
}

// TestRestartKeepsHistoryAndHonoursThePruneBackoff (issue 10, item 7): a
// node connected to B stops; the disconnect time of B is on disk (the peer
// manager records the shutdown before the flush and before the host
// closes). Restarted on the same data directory, the node shows B with its
// origin (api) and history (can_connect), and defers redialing B until the
// prune backoff our PRUNEs announced (+ 2 s) is over.
func TestRestartKeepsHistoryAndHonoursThePruneBackoff(t *testing.T) {
	sys := actortest.NewSystem(t)
	dir := t.TempDir()
	start := func(name, dataDir string, logs *logLines) *Node {
		t.Helper()
		cfg := testConfig(name)
		cfg.DataDir, cfg.PeerPersistence = dataDir, dataDir != ""
		if logs != nil {
			cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		n, err := newNode(cfg, deps{router: routerProps})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		if _, err := n.Spawn(sys.Root); err != nil {
			t.Fatal(err)
		}
		return n
	}
	b := start("b", "", nil)
	a := start("a", dir, nil)
	if _, err := a.AddPeer(context.Background(), b.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	scfg := storage.DefaultConfig()
	scfg.Path = filepath.Join(dir, PeerStoreFile)
	backend, err := storage.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	var rec *peerv1.PeerRecord
	_, err = backend.LoadAll(16, func(batch []*peerv1.PeerRecord) error {
		for _, r := range batch {
			if peer.ID(r.GetPeerId()) == b.ID() {
				rec = r
			}
		}
		return nil
	})
	if cerr := backend.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if rec == nil || rec.GetDisconnectTime() == nil || rec.GetDisconnectTime().AsTime().Before(stoppedAt.Add(-time.Second)) ||
		rec.GetConnectedness() != peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT || rec.GetOrigin() != peerv1.Origin_ORIGIN_API {
		t.Fatalf("B on disk after the stop: %v", rec)
	}

	logs := newLogLines()
	a = start("a2", dir, logs)
	logs.await(t, 10*time.Second, `"msg":"reconnecting to stored peers","dialing":0,"deferred":1`)
	peers, err := a.Peers(context.Background())
	if err != nil || len(peers) != 1 {
		t.Fatalf("peers after restart %v %v", peers, err)
	}
	if p := peers[0]; p.GetOrigin() != "api" || p.GetConnectedness() != "can_connect" {
		t.Fatalf("B after the restart: origin %q connectedness %q, want api, can_connect", p.GetOrigin(), p.GetConnectedness())
	}
}

// TestPortInUseFailsTheStart (issue 10, item 8): a second node on a TCP
// port another node listens on fails New with an error naming the port,
// instead of sharing it through SO_REUSEPORT while the kernel splits the
// incoming connections between the two.
func TestPortInUseFailsTheStart(t *testing.T) {
	first := testConfig("first")
	first.TCPPort = proctest.FreePort(t)
	a, err := newNode(first, deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	second := testConfig("second")
	second.TCPPort = first.TCPPort
	b, err := newNode(second, deps{})
	if err == nil {
		_ = b.Close(context.Background())
		t.Fatalf("a second node started on TCP port %d", first.TCPPort)
	}
	if want := fmt.Sprintf("TCP port %d", first.TCPPort); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("error %q does not say %s is already in use", err, want)
	}
}

// TestPeersShowFailuresAndAddPeerResetsThem (issue 10, item 10): a peer
// whose dials fail shows its failures and next dial time in Peers, and
// adding it again (what POST /admin/v1/peers does) starts its count anew
// instead of adding to it.
func TestPeersShowFailuresAndAddPeerResetsThem(t *testing.T) {
	sys := actortest.NewSystem(t)
	n, err := newNode(testConfig("a"), deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	if _, err := n.Spawn(sys.Root); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", proctest.FreePort(t), "16Uiu2HAmPLe7Mzm8TsYUubgCAW1aJoeFScxrLj8ppHFivPo97bUZ")
	failures := func() *apiv1.Peer {
		t.Helper()
		peers, err := n.Peers(context.Background())
		if err != nil || len(peers) != 1 {
			t.Fatalf("peers %v %v", peers, err)
		}
		return peers[0]
	}
	for range 2 {
		if _, err := n.AddPeer(context.Background(), dead); err == nil {
			t.Fatal("AddPeer of a closed port succeeded")
		}
		p := failures()
		if p.GetFailedAttempts() != 1 || p.GetLastFailure() == nil || p.GetNextDial() == nil || p.GetConnectedness() != "cannot_connect" {
			t.Fatalf("after AddPeer of a dead peer: %v, want 1 failure (reset by each add) and a next dial time", p)
		}
	}
}
