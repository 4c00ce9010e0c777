package session

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// pipeStream is one end of an in-memory pipe posing as a libp2p stream.
type pipeStream struct {
	net.Conn
	proto protocol.ID
}

func (p pipeStream) Reset() error          { return p.Conn.Close() }
func (p pipeStream) Protocol() protocol.ID { return p.proto }

// gateOpener hands out the client end of a pipe once gate is closed.
type gateOpener struct {
	gate   chan struct{}
	client net.Conn
	proto  protocol.ID
}

func (g *gateOpener) OpenStream(ctx context.Context, _ peer.ID, _ ...protocol.ID) (Stream, error) {
	select {
	case <-g.gate:
		return pipeStream{Conn: g.client, proto: g.proto}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// forwarder passes every user message it receives to a probe, as itself
// (the probe's Received.Sender is the forwarder "…/topic/<t>"; what the
// fake router forwards has no sender).
type forwarder struct{ to *actor.PID }

func (f forwarder) Receive(c actor.Context) {
	if m, ok := c.Message().(proto.Message); ok {
		c.Request(f.to, m)
	}
}

// fakeRouter is the session's parent in tests: it spawns the session as
// "peer/<key>" and a forwarder "topic/<t>" per topic, and forwards whatever
// it receives to the probe.
type fakeRouter struct {
	to      *actor.PID
	session *actor.Props
	topics  []string
}

func (r *fakeRouter) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		for _, t := range r.topics {
			if _, err := c.SpawnNamed(actorkit.Props(func() actor.Actor { return forwarder{r.to} }), "topic/"+t); err != nil {
				panic(err)
			}
		}
		if _, err := c.SpawnNamed(r.session, "peer/"+testPeer.String()); err != nil {
			panic(err)
		}
	case proto.Message:
		c.Send(r.to, m)
	}
}

const testPeer = peer.ID("\x00\x04test")

type harness struct {
	probe   *actortest.Probe
	session *actor.PID
	opener  *gateOpener
	server  net.Conn
	reader  *wire.Reader
	metrics *Metrics
	cfg     Config
}

// newHarness starts a session for testPeer under a fake router with topic
// forwarders for topics; the outbound stream opens when h.open() is called.
func newHarness(t *testing.T, cfg Config, topics ...string) *harness {
	t.Helper()
	return newHarnessDeps(t, cfg, nil, topics...)
}

// newHarnessDeps is newHarness with the session's Deps adjusted by with.
func newHarnessDeps(t *testing.T, cfg Config, with func(*Deps), topics ...string) *harness {
	t.Helper()
	return newHarnessOpts(t, cfg, with, nil, topics...)
}

// newHarnessOpts is newHarnessDeps with props options for the fake router
// (its supervisor strategy is the session's).
func newHarnessOpts(t *testing.T, cfg Config, with func(*Deps), routerOpts []actor.PropsOption, topics ...string) *harness {
	t.Helper()
	drainDeadLetters(t)
	sys := actortest.NewSystem(t)
	probe := actortest.NewProbe(t, sys)
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	op := &gateOpener{gate: make(chan struct{}), client: client, proto: wire.ProtocolMeshsub12}
	deps := Deps{Peer: testPeer, Opener: op, Metrics: m, Inspect: func(msg *gossipsubv1.Message) ([]byte, error) {
		return wire.MsgIDSHA256Data(msg), nil
	}}
	if with != nil {
		with(&deps)
	}
	router := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
		return &fakeRouter{to: probe.PID(), session: Props(cfg, deps), topics: topics}
	}, routerOpts...))
	// Stop the actors (and so their goroutines) before the system shuts
	// down, or the bubble would end with the writer goroutine still blocked.
	t.Cleanup(func() { _ = sys.Root.StopFuture(router).Wait() })
	synctest.Wait() // the router has spawned the session and the topic forwarders
	return &harness{
		probe: probe, session: PeerPID(router, testPeer.String()), opener: op, server: server,
		reader: wire.NewReader(server, cfg.MaxFrame), metrics: m, cfg: cfg,
	}
}

// open lets the writer goroutine open its stream.
func (h *harness) open() { close(h.opener.gate) }

// read reads the next frame the session wrote.
func (h *harness) read(t *testing.T) *gossipsubv1.RPC {
	t.Helper()
	rpc := &gossipsubv1.RPC{}
	if err := h.reader.ReadRPC(rpc); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return rpc
}

// inBubble runs f in a synctest bubble.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	bubble.Test(t, f)
}

// drainDeadLetters registers (to run last, after the actor system shut
// down) a virtual-time pause that lets protoactor's dead-letter throttle
// timer fire; any message reaching a stopped actor during shutdown starts
// one, and a synctest bubble must end with no goroutine left. It waits for no
// behaviour.
func drainDeadLetters(t *testing.T) {
	t.Cleanup(func() { time.Sleep(2 * time.Second) })
}

// joined tells the session it joined topics, opens its stream and reads the
// hello: the start of most tests of a working session.
func (h *harness) joined(t *testing.T, topics ...string) {
	t.Helper()
	h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: topics})
	h.open()
	actortest.Expect[*pubsubv1.SessionStarted](h.probe)
	h.read(t) // the hello
}
