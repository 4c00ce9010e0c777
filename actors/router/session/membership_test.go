package session

import (
	"context"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// membershipLog collects, per topic actor, the membership messages the
// session sent it (PeerSubscriptions, PeerLeft) in arrival order, and the
// router's observer copies, until the probe is quiet.
type membershipLog struct {
	topics map[string][]string // topic → "sub", "unsub", "left"
	router []string
	seen   []*pubsubv1.LocalTopicsSeen
}

func collectMembership(h *harness) *membershipLog {
	synctest.Wait()
	l := &membershipLog{topics: map[string][]string{}}
	for {
		r, ok := h.probe.Next(time.Millisecond)
		if !ok {
			return l
		}
		topic := ""
		if r.Sender != nil {
			topic = r.Sender.GetId()[strings.LastIndex(r.Sender.GetId(), "/")+1:]
		}
		switch m := r.Message.(type) {
		case *pubsubv1.PeerSubscriptions:
			for _, sub := range m.GetSubscriptions() {
				ev := "unsub"
				if sub.GetSubscribe() {
					ev = "sub"
				}
				if topic == "" {
					l.router = append(l.router, sub.GetTopicid()+":"+ev)
				} else {
					l.topics[topic] = append(l.topics[topic], ev)
				}
			}
		case *pubsubv1.PeerLeft:
			l.topics[topic] = append(l.topics[topic], "left")
		case *pubsubv1.LocalTopicsSeen:
			l.seen = append(l.seen, m)
		}
	}
}

// present reports whether the topic actor, after the events it got, has the
// peer subscribed.
func present(events []string) bool { return len(events) > 0 && events[len(events)-1] == "sub" }

func helloRPC(topics ...string) *pubsubv1.InboundRPC {
	rpc := &gossipsubv1.RPC{}
	for _, t := range topics {
		rpc.Subscriptions = append(rpc.Subscriptions, subOpts(t, true))
	}
	return &pubsubv1.InboundRPC{Rpc: rpc}
}

// TestSessionIsTheOnlyMembershipPath (ADR 0012): the session introduces its
// peer to every topic actor it learns of (joined "a", publish-only "f", and
// "z" once the router starts it) when the peer is subscribed, forwards the
// peer's unsubscribe, and its last message to each topic actor it
// introduced the peer to is PeerLeft. The router gets only observer copies,
// and an answer to LocalTopics that started topics.
func TestSessionIsTheOnlyMembershipPath(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), "a", "f", "z", "n")
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a", "n"}, Tracked: []string{"f"}})
		h.probe.Send(h.session, helloRPC("a", "f", "z"))
		l := collectMembership(h)
		if !present(l.topics["a"]) || !present(l.topics["f"]) || len(l.topics["z"]) != 0 || len(l.topics["n"]) != 0 {
			t.Fatalf("after the hello: topics got %v", l.topics)
		}
		if len(l.router) != 3 {
			t.Fatalf("router's observer copy: %v", l.router)
		}
		// The router starts an actor for z: the session introduces the peer
		// and answers with the LocalTopics' seq.
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a", "n"}, Tracked: []string{"f", "z"}, Started: []string{"z"}, Seq: 7})
		l = collectMembership(h)
		if !present(l.topics["z"]) || len(l.topics["a"]) != 0 || len(l.seen) != 1 || l.seen[0].GetSeq() != 7 {
			t.Fatalf("after z started: topics %v, seen %v", l.topics, l.seen)
		}
		// a respawned (started again): introduced again.
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a", "n"}, Tracked: []string{"f", "z"}, Started: []string{"a"}, Seq: 8})
		if l = collectMembership(h); !present(l.topics["a"]) {
			t.Fatalf("respawned a not introduced: %v", l.topics)
		}
		// The peer unsubscribes from f.
		unsub := false
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String("f"), Subscribe: &unsub}}}})
		if l = collectMembership(h); len(l.topics["f"]) != 1 || l.topics["f"][0] != "unsub" {
			t.Fatalf("unsubscribe from f: %v", l.topics)
		}
		// The session stops: PeerLeft to a and z, nothing to f (already
		// out) or n (never in).
		h.probe.System().Root.Stop(h.session)
		l = collectMembership(h)
		for _, topic := range []string{"a", "z"} {
			if got := l.topics[topic]; len(got) != 1 || got[0] != "left" {
				t.Fatalf("%s at stop: %v", topic, got)
			}
		}
		if len(l.topics["f"])+len(l.topics["n"]) != 0 {
			t.Fatalf("f or n told at stop: %v", l.topics)
		}
	})
}

// TestSessionStoppedAroundTheHelloLeavesNoGhost: issue 11 item 2. A peer's
// hello handled by a topic actor after the router dropped the peer made a
// ghost. Whatever the order in which the session sees the hello and its
// stop, every topic actor ends without the peer.
func TestSessionStoppedAroundTheHelloLeavesNoGhost(t *testing.T) {
	for _, stopFirst := range []bool{false, true} {
		inBubble(t, func(t *testing.T) {
			h := newHarness(t, DefaultConfig(), "a")
			h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a"}})
			synctest.Wait()
			if stopFirst {
				h.probe.System().Root.Stop(h.session)
				h.probe.Send(h.session, helloRPC("a"))
			} else {
				h.probe.Send(h.session, helloRPC("a"))
				h.probe.System().Root.Stop(h.session)
			}
			if l := collectMembership(h); present(l.topics["a"]) {
				t.Fatalf("stop first %v: topic a ends with the peer: %v", stopFirst, l.topics["a"])
			}
		})
	}
}

// TestSessionSeedsARestartedSession: a session that replaces one for a
// still-connected peer starts from the peer's topics the router kept (the
// peer does not repeat its hello) and introduces the peer to the topic
// actors at once.
func TestSessionSeedsARestartedSession(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarnessDeps(t, DefaultConfig(), func(d *Deps) {
			d.PeerTopics, d.Topics, d.Tracked = []string{"a", "f", "x"}, []string{"a"}, []string{"f"}
		}, "a", "f")
		l := collectMembership(h)
		if !present(l.topics["a"]) || !present(l.topics["f"]) {
			t.Fatalf("seeded session introduced %v", l.topics)
		}
		h.open()
		actortest.Fish(h.probe, func(*pubsubv1.SessionStarted) bool { return true })
		if got := subscribedTopics(h.read(t)); !got["a"] || len(got) != 1 {
			t.Fatalf("hello %v, want a", got)
		}
	})
}

// TestSessionRoutesFanoutIWant: issue 11 item 5. We advertise the messages
// of a topic we only publish to (its actor is tracked, not joined); the
// peer's IWANT for them must reach that actor, or go and rust peers count a
// broken promise against us.
func TestSessionRoutesFanoutIWant(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), "f")
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Tracked: []string{"f"}})
		h.open()
		actortest.Expect[*pubsubv1.SessionStarted](h.probe)
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{ihave("f", "adv")}}})
		h.read(t) // the hello is empty (nothing joined) and skipped: this is the IHAVE
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
			Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: ids("adv")}},
			Graft: graft("f").Graft, // a GRAFT for a topic we did not join is not passed on
		}}})
		rc := actortest.Expect[*pubsubv1.ReceivedControl](h.probe)
		if len(rc.GetIwant()) != 1 || string(rc.GetIwant()[0]) != "adv" || len(rc.GetGraft()) != 0 {
			t.Fatalf("fanout topic f got %v", rc)
		}
	})
}

// TestSessionPanicStopsCleanly: issue 11 item 13. Under the router's
// strategy (stop, and the parent cleans up) a panicking session is stopped:
// its Stopping ends the writer goroutine (the stream is closed; restarted in
// place, the old writer leaked, which the bubble would report) and tells its
// topic actors the peer left.
func TestSessionPanicStopsCleanly(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		failures := 0
		stop := actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { failures++; return actor.StopDirective })
		h := newHarnessOpts(t, DefaultConfig(), func(d *Deps) {
			d.Inspect = func(m *gossipsubv1.Message) ([]byte, error) {
				if string(m.GetData()) == "boom" {
					panic("inspect: boom")
				}
				return []byte(m.GetData()), nil
			}
		}, []actor.PropsOption{actor.WithSupervisor(stop)}, "a")
		h.joined(t, "a")
		h.probe.Send(h.session, helloRPC("a"))
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{
			{Topic: proto.String("a"), Data: []byte("boom")}}}})
		l := collectMembership(h)
		if got := l.topics["a"]; len(got) != 2 || got[0] != "sub" || got[1] != "left" {
			t.Fatalf("topic a got %v, want the peer introduced then left", got)
		}
		if failures != 1 {
			t.Fatalf("supervisor consulted %d times", failures)
		}
		if err := h.reader.ReadRPC(&gossipsubv1.RPC{}); err == nil {
			t.Fatal("the writer's stream is still open after the session stopped")
		}
	})
}

// seqOpener hands out a new pipe per OpenStream; the test reads the server
// ends from servers.
type seqOpener struct {
	servers chan net.Conn
}

func (o *seqOpener) OpenStream(ctx context.Context, _ peer.ID, _ ...protocol.ID) (Stream, error) {
	client, server := net.Pipe()
	select {
	case o.servers <- server:
		return pipeStream{Conn: client, proto: wire.ProtocolMeshsub12}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestSessionReopensFailedOutboundStream: issue 11 item 8. A failed outbound
// stream is reopened by the session itself at the next heartbeat, with a
// new hello, instead of the session stopping: its PID stays alive, so the
// peer's inbound RPCs never go to a dead letter (which used to end the
// inbound stream as "stalled" and charge the peer P7). After
// MaxOutboundReopens failures in a row it gives up.
func TestSessionReopensFailedOutboundStream(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		op := &seqOpener{servers: make(chan net.Conn)}
		cfg := DefaultConfig()
		cfg.MaxOutboundReopens = 2
		h := newHarnessOpts(t, cfg, func(d *Deps) { d.Opener = op }, nil, "a")
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a"}})
		fail := func() {
			server := <-op.servers
			_ = server.Close() // the hello's write fails
			synctest.Wait()
		}
		tick := func() { h.probe.Send(h.session, &heartbeatv1.Tick{}); synctest.Wait() }
		fail()
		tick()
		// Reopened: a new stream with the hello, and the session is alive.
		server := <-op.servers
		t.Cleanup(func() { server.Close() })
		rpc := &gossipsubv1.RPC{}
		if err := wire.NewReader(server, cfg.MaxFrame).ReadRPC(rpc); err != nil || !subscribedTopics(rpc)["a"] {
			t.Fatalf("reopened stream: hello %v, err %v", rpc, err)
		}
		_ = server.Close()
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: graft("a")}) // its write fails
		synctest.Wait()
		tick()
		fail()
		tick()
		fail()
		for {
			r, ok := h.probe.Next(time.Second)
			if !ok {
				t.Fatal("no SessionClosed after MaxOutboundReopens failures in a row")
			}
			if sc, ok := r.Message.(*pubsubv1.SessionClosed); ok {
				// One reopen before the successful hello, then two in a row.
				if n := testutil.ToFloat64(h.metrics.reopens); n != 3 {
					t.Fatalf("reopens %v, want 3 (%v)", n, sc)
				}
				return
			}
		}
	})
}

// TestServeInboundSessionGone: a reader whose session stopped ends the
// stream as "session_gone", which like "stalled" is our fault: no penalty.
func TestServeInboundSessionGone(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		drainDeadLetters(t)
		sys := actortest.NewSystem(t)
		m, _ := NewMetrics(nil)
		cfg := DefaultConfig()
		cfg.InboundWindow = 1
		client, server := net.Pipe()
		defer client.Close()
		gone := actor.NewPID(sys.Address(), "no-such-session")
		done := make(chan error, 1)
		go func() { done <- ServeInbound(sys.Root, gone, pipeStream{Conn: server}, 1, cfg, m, InboundDeps{}) }()
		w := wire.NewWriter(client, cfg.MaxFrame)
		topic := "t"
		for range 3 {
			if w.Write(&gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Topicid: &topic}}}) != nil || w.Flush() != nil {
				break
			}
		}
		err := <-done
		if r := RejectReason(err); r != "session_gone" || !OurFault(r) || !OurFault("stalled") || OurFault("malformed") {
			t.Fatalf("reason %q (err %v); OurFault: session_gone %v stalled %v malformed %v", r, err, OurFault(r), OurFault("stalled"), OurFault("malformed"))
		}
	})
}
