package session

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestServeInboundDropsBodiesOfKnownCopies (ADR 0027): the reader checks
// every message while it is a view into the frame: a copy whose id is
// known goes on as topic and id only; a new message goes on with its id;
// one the check refuses goes on without id, for the session to refuse and
// charge.
func TestServeInboundDropsBodiesOfKnownCopies(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		drainDeadLetters(t)
		sys := actortest.NewSystem(t)
		probe := actortest.NewProbe(t, sys)
		m, _ := NewMetrics(nil)
		mk := func(data string) *gossipsubv1.Message {
			return &gossipsubv1.Message{Topic: proto.String("a"), Data: []byte(data)}
		}
		n1, dup, bad, n2 := mk("new 1"), mk("dup"), mk("bad"), mk("new 2")
		dupID := wire.MsgIDSHA256Data(dup)
		in := InboundDeps{
			Inspect: func(msg *gossipsubv1.Message) ([]byte, error) {
				if string(msg.GetData()) == "bad" {
					return nil, errors.New("refused")
				}
				return wire.MsgIDSHA256Data(msg), nil
			},
			Known: func(topic string, id []byte) bool { return topic == "a" && bytes.Equal(id, dupID) },
		}
		client, server := net.Pipe()
		defer server.Close()
		done := make(chan error, 1)
		go func() {
			done <- ServeInbound(sys.Root, probe.PID(), pipeStream{Conn: server}, 7, DefaultConfig(), m, in)
		}()
		frame, err := wire.AppendFrame(nil, &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{n1, dup, bad, n2}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, _ = client.Write(frame)
			_ = client.Close()
		}()
		got := actortest.Expect[*pubsubv1.InboundRPC](probe)
		if err := <-done; err != nil {
			t.Fatalf("ServeInbound: %v", err)
		}
		want := &pubsubv1.InboundRPC{
			Rpc:    &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{n1, bad, n2}},
			Stream: 7,
			Ids:    [][]byte{wire.MsgIDSHA256Data(n1), nil, wire.MsgIDSHA256Data(n2)},
			Known:  []*pubsubv1.KnownCopy{{Topic: "a", Id: dupID}},
		}
		if !proto.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
		actortest.Expect[*pubsubv1.StreamFailed](probe) // the clean end
		if n := testutil.ToFloat64(m.knownCopies); n != 1 {
			t.Fatalf("known copies counted %v, want 1", n)
		}
	})
}

// TestSessionSendsKnownCopiesAsIDs: the session uses the reader's ids
// (no second Inspect), checks a message without one itself, and hands known
// copies of its topics to the topic actor as ids without message.
func TestSessionSendsKnownCopiesAsIDs(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		inspected := 0
		h := newHarnessDeps(t, DefaultConfig(), func(d *Deps) {
			d.Inspect = func(msg *gossipsubv1.Message) ([]byte, error) {
				inspected++
				return nil, errors.New("refused")
			}
		}, "a")
		h.joined(t, "a")
		msg := &gossipsubv1.Message{Topic: proto.String("a"), Data: []byte("x")}
		bad := &gossipsubv1.Message{Topic: proto.String("a"), Data: []byte("y")}
		h.probe.Send(h.session, &pubsubv1.InboundRPC{
			Rpc:   &gossipsubv1.RPC{Publish: []*gossipsubv1.Message{msg, bad}},
			Ids:   [][]byte{[]byte("given"), nil},
			Known: []*pubsubv1.KnownCopy{{Topic: "a", Id: []byte("k")}, {Topic: "c", Id: []byte("k")}},
		})
		rm := actortest.Expect[*pubsubv1.ReceivedMessages](h.probe)
		want := &pubsubv1.ReceivedMessages{Peer: []byte(testPeer), Messages: []*pubsubv1.IdentifiedMessage{
			{Id: []byte("given"), Message: msg}, {Id: []byte("k")}}}
		if !proto.Equal(rm, want) {
			t.Fatalf("topic a got %v, want %v", rm, want)
		}
		actortest.Expect[*pubsubv1.InvalidMessagesReceived](h.probe)
		if inspected != 1 {
			t.Fatalf("Inspect ran %d times, want once (for the message without id)", inspected)
		}
		if d := testutil.ToFloat64(h.metrics.rpcDrops.WithLabelValues("not_subscribed")); d != 1 {
			t.Fatalf("not_subscribed drops %v, want 1 (the known copy of c)", d)
		}
	})
}
