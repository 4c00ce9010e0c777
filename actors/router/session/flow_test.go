package session

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// A session that does not keep up stops the reader after two windows: the
// rest of the peer's frames stay in the peer's TCP stream, not in memory.
func TestServeInboundHoldsAtMostTwoWindows(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		drainDeadLetters(t)
		sys := actortest.NewSystem(t)
		session := actortest.NewProbe(t, sys) // stands for a stalled session
		m, _ := NewMetrics(nil)
		cfg := DefaultConfig()
		cfg.InboundWindow = 4
		client, server := net.Pipe()
		defer client.Close()
		done := make(chan error, 1)
		go func() {
			done <- ServeInbound(sys.Root, session.PID(), pipeStream{Conn: server}, 3, cfg, m, InboundDeps{})
		}()
		written := make(chan int, 1)
		go func() {
			w := wire.NewWriter(client, cfg.MaxFrame)
			n := 0
			for ; n < 100; n++ {
				topic := "t"
				if w.Write(&gossipsubv1.RPC{Subscriptions: []*gossipsubv1.SubOpts{{Topicid: &topic}}}) != nil || w.Flush() != nil {
					break
				}
			}
			written <- n
		}()

		// Window 1, its barrier, window 2 (sent while barrier 1 is open),
		// barrier 2 — then the reader waits for barrier 1's answer.
		for range 4 {
			actortest.Expect[*pubsubv1.InboundRPC](session)
		}
		first := actortest.Expect[*pubsubv1.InboundSync](session)
		firstSender := session.Sender()
		for range 4 {
			actortest.Expect[*pubsubv1.InboundRPC](session)
		}
		actortest.Expect[*pubsubv1.InboundSync](session)
		session.ExpectNoMessage(time.Second)

		// Answering the first barrier lets exactly one more window through.
		sys.Root.Send(firstSender, &pubsubv1.InboundSynced{Stream: first.GetStream()})
		for range 4 {
			actortest.Expect[*pubsubv1.InboundRPC](session)
		}
		actortest.Expect[*pubsubv1.InboundSync](session)
		session.ExpectNoMessage(time.Second)

		// A barrier never answered ends the stream as stalled.
		if err := <-done; err == nil {
			t.Fatal("ServeInbound kept reading for a session that never answered")
		}
		sf := actortest.Fish(session, func(*pubsubv1.StreamFailed) bool { return true })
		if sf.GetRejectReason() != "stalled" {
			t.Fatalf("StreamFailed reason %q, want stalled", sf.GetRejectReason())
		}
		if n := testutil.ToFloat64(m.frameRejections.WithLabelValues("stalled")); n != 1 {
			t.Fatalf("rejections{stalled} = %v, want 1", n)
		}
		_ = client.Close()
		if n := <-written; n >= 100 {
			t.Fatalf("the peer wrote all %d frames; backpressure did not reach it", n)
		}
	})
}
