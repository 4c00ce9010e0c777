package session

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

func subscribedTopics(rpc *gossipsubv1.RPC) map[string]bool {
	out := map[string]bool{}
	for _, s := range rpc.GetSubscriptions() {
		out[s.GetTopicid()] = s.GetSubscribe()
	}
	return out
}

func TestSessionHelloCarriesAllSubscriptions(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig())
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a", "b"}})
		synctest.Wait()
		h.open()
		hello := h.read(t)
		if got := subscribedTopics(hello); !got["a"] || !got["b"] || len(got) != 2 {
			t.Fatalf("hello subscriptions = %v, want a and b", got)
		}
		started := actortest.Expect[*pubsubv1.SessionStarted](h.probe)
		if started.GetProtocol() != string(wire.ProtocolMeshsub12) {
			t.Fatalf("protocol %q", started.GetProtocol())
		}
		// A later Join is announced as a change.
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a"}})
		if got := subscribedTopics(h.read(t)); got["b"] || len(got) != 1 {
			t.Fatalf("announcement = %v, want b unsubscribed", got)
		}
	})
}

// blockedAfterHello opens the stream and leaves the hello unread, so the
// writer is stuck and everything sent next accumulates in the queue.
func blockedAfterHello(t *testing.T, h *harness) {
	h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"x"}})
	h.open()
	actortest.Expect[*pubsubv1.SessionStarted](h.probe)
	synctest.Wait()
}

func TestSessionBatchesQueuedItemsByPriority(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig())
		blockedAfterHello(t, h)
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{ihave("t", "adv")}}})
		h.probe.Send(h.session, send(pFwd, "m1", "m2", "m3"))
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: graft("t")})
		synctest.Wait()
		h.read(t) // hello
		batch := h.read(t)
		if len(batch.GetPublish()) != 3 || len(batch.GetControl().GetGraft()) != 1 || len(batch.GetControl().GetIhave()) != 1 {
			t.Fatalf("want one frame with 3 messages, a GRAFT and an IHAVE, got %v", batch)
		}
		synctest.Wait() // the writer counts a write after it returns
		if w := testutil.ToFloat64(h.metrics.writes); w != 2 {
			t.Fatalf("%v writes, want 2 (hello + one batch)", w)
		}
	})
}

func TestSessionDropsLowestPriorityFirstAndCountsIt(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxQueueBytes = 4 * (fieldCost(proto.Size(testMsg(0, 10))) + ItemOverhead)
		h := newHarness(t, cfg)
		blockedAfterHello(t, h)
		h.probe.Send(h.session, send(pGsp, "g1", "g2"))
		h.probe.Send(h.session, send(pFwd, "f1", "f2", "f3"))
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: graft("t")})
		synctest.Wait()
		if g, f := testutil.ToFloat64(h.metrics.queueDrops.WithLabelValues("gossip")),
			testutil.ToFloat64(h.metrics.queueDrops.WithLabelValues("forward")); g != 2 || f != 0 {
			t.Fatalf("drops gossip=%v forward=%v, want 2 and 0", g, f)
		}
		h.read(t)
		batch := h.read(t)
		if len(batch.GetPublish()) != 3 || len(batch.GetControl().GetGraft()) != 1 {
			t.Fatalf("batch %v: want the 3 forwarded messages and the GRAFT", batch)
		}
		synctest.Wait()
		if q := testutil.ToFloat64(h.metrics.queueBytes); q != 0 {
			t.Fatalf("queue gauge %v after draining, want 0", q)
		}
	})
}

// A forward that waited in the queue longer than MaxForwardAge (the writer
// blocked) is dropped and counted, not written; a fresh one still goes out
// (ADR 0021).
func TestSessionExpiresStaleForwards(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		var clock atomic.Int64 // ms since an arbitrary origin
		origin := time.Unix(1000, 0)
		h := newHarnessDeps(t, DefaultConfig(), func(d *Deps) {
			d.Clock = func() time.Time { return origin.Add(time.Duration(clock.Load()) * time.Millisecond) }
		})
		blockedAfterHello(t, h)
		h.probe.Send(h.session, send(pFwd, "old"))
		synctest.Wait()
		clock.Store(h.cfg.MaxForwardAge.Milliseconds() + 1)
		h.probe.Send(h.session, send(pFwd, "new"))
		synctest.Wait()
		if e := testutil.ToFloat64(h.metrics.queueExpired.WithLabelValues("forward")); e != 1 {
			t.Fatalf("expired forwards %v, want 1", e)
		}
		h.read(t) // hello
		batch := h.read(t)
		if len(batch.GetPublish()) != 1 {
			t.Fatalf("batch %v: want only the fresh message", batch)
		}
	})
}

func TestSessionIDontWantCancelsQueuedSend(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig())
		blockedAfterHello(t, h)
		h.probe.Send(h.session, send(pFwd, "a", "b"))
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
			Idontwant: idontwant("a")}}})
		synctest.Wait()
		h.read(t)
		batch := h.read(t)
		if len(batch.GetPublish()) != 1 {
			t.Fatalf("sent %d messages, want only b", len(batch.GetPublish()))
		}
		if s := testutil.ToFloat64(h.metrics.idontwantSaved); s != 1 {
			t.Fatalf("saved %v, want 1", s)
		}
		// And a later send of the same id is skipped.
		h.probe.Send(h.session, send(pFwd, "a"))
		synctest.Wait()
		if s := testutil.ToFloat64(h.metrics.idontwantSaved); s != 2 {
			t.Fatalf("saved %v, want 2", s)
		}
	})
}

func TestSessionRoutesInboundByTopic(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), "a")
		h.joined(t, "a")
		sub := true
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{
			Subscriptions: []*gossipsubv1.SubOpts{{Topicid: proto.String("a"), Subscribe: &sub}, {Topicid: proto.String("c"), Subscribe: &sub}},
		}})
		// The router gets both; the topic actor of a gets its own (the two
		// reach the probe through different forwarders, in either order).
		got := map[int]*pubsubv1.PeerSubscriptions{}
		for _, ps := range actortest.ReceiveN[*pubsubv1.PeerSubscriptions](h.probe, 2, time.Second) {
			got[len(ps.GetSubscriptions())] = ps
		}
		if ps := got[2]; ps == nil || !bytes.Equal(ps.GetPeer(), []byte(testPeer)) {
			t.Fatalf("router got %v", got)
		}
		if ps := got[1]; ps == nil || ps.GetSubscriptions()[0].GetTopicid() != "a" {
			t.Fatalf("topic actor got %v", got)
		}
		msgA := &gossipsubv1.Message{Topic: proto.String("a"), Data: []byte("x")}
		msgC := &gossipsubv1.Message{Topic: proto.String("c"), Data: []byte("y")}
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msgA, msgC}}})
		rm := actortest.Expect[*pubsubv1.ReceivedMessages](h.probe)
		if len(rm.GetMessages()) != 1 || !bytes.Equal(rm.GetMessages()[0].GetId(), wire.MsgIDSHA256Data(msgA)) {
			t.Fatalf("topic a got %v", rm)
		}
		// IWANT: only ids advertised to this peer reach the topic actor.
		h.probe.Send(h.session, &pubsubv1.SendToPeer{Control: &gossipsubv1.ControlMessage{
			Ihave: []*gossipsubv1.ControlIHave{ihave("a", "adv")}}})
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Control: &gossipsubv1.ControlMessage{
			Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: ids("adv", "never")}},
			Graft: graft("a").Graft,
		}}})
		rc := actortest.Expect[*pubsubv1.ReceivedControl](h.probe)
		if len(rc.GetIwant()) != 1 || string(rc.GetIwant()[0]) != "adv" || len(rc.GetGraft()) != 1 {
			t.Fatalf("topic a got %v", rc)
		}
		if u := testutil.ToFloat64(h.metrics.rpcDrops.WithLabelValues("iwant_not_advertised")); u != 1 {
			t.Fatalf("unknown iwants %v, want 1", u)
		}
		if d := testutil.ToFloat64(h.metrics.rpcDrops.WithLabelValues("not_subscribed")); d != 1 {
			t.Fatalf("not_subscribed drops %v, want 1", d)
		}
	})
}

func TestSessionIgnoresGraylistedPeer(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), "a")
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a"}})
		h.probe.Send(h.session, &pubsubv1.PeerStatus{Graylisted: true})
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{
			{Topic: proto.String("a"), Data: []byte("x")}}}})
		h.probe.ExpectNoMessage(100 * time.Millisecond)
		if d := testutil.ToFloat64(h.metrics.rpcDrops.WithLabelValues("graylisted")); d != 1 {
			t.Fatalf("graylisted drops %v, want 1", d)
		}
		// The heartbeat does not lift it; a new status does.
		h.probe.Send(h.session, &heartbeatv1.Tick{})
		h.probe.Send(h.session, &pubsubv1.PeerStatus{})
		h.probe.Send(h.session, &pubsubv1.InboundRPC{Rpc: &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{
			{Topic: proto.String("a"), Data: []byte("x")}}}})
		actortest.Expect[*pubsubv1.ReceivedMessages](h.probe)
	})
}

func TestServeInboundResetsOnBadFrames(t *testing.T) {
	tests := []struct {
		name   string
		bytes  []byte
		reason string
	}{
		{"oversized length prefix", binary.AppendUvarint(nil, 2<<20), "too_large"},
		{"truncated frame", append(binary.AppendUvarint(nil, 100), make([]byte, 10)...), "truncated"},
		{"random bytes", append(binary.AppendUvarint(nil, 8), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "malformed"},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11), "varint_overflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				drainDeadLetters(t)
				sys := actortest.NewSystem(t)
				probe := actortest.NewProbe(t, sys)
				m, _ := NewMetrics(nil)
				client, server := net.Pipe()
				defer server.Close()
				done := make(chan error, 1)
				go func() {
					done <- ServeInbound(sys.Root, probe.PID(), pipeStream{Conn: server}, 7, DefaultConfig(), m, InboundDeps{})
				}()
				go func() {
					_, _ = client.Write(tt.bytes)
					_ = client.Close()
				}()
				if err := <-done; err == nil {
					t.Fatal("ServeInbound returned nil on a bad frame")
				}
				sf := actortest.Expect[*pubsubv1.StreamFailed](probe)
				if sf.GetRejectReason() != tt.reason || sf.GetStream() != 7 {
					t.Fatalf("StreamFailed %v, want reason %s", sf, tt.reason)
				}
				if n := testutil.ToFloat64(m.frameRejections.WithLabelValues(tt.reason)); n != 1 {
					t.Fatalf("rejections{%s} = %v, want 1", tt.reason, n)
				}
				// The stream was reset: writing to it fails.
				if _, err := server.Write([]byte{0}); err == nil {
					t.Fatal("stream still open after a bad frame")
				}
			})
		})
	}
}
