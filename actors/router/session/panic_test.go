package session

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/peermesh/peermesh/actortest"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// panicStream panics on Read and Write (a bug in a stream implementation or
// in what runs under it); Reset records that it was called.
type panicStream struct{ reset *bool }

func (panicStream) Read([]byte) (int, error)  { panic("read: boom") }
func (panicStream) Write([]byte) (int, error) { panic("write: boom") }
func (panicStream) Close() error              { return nil }
func (s panicStream) Reset() error {
	*s.reset = true
	return nil
}
func (panicStream) Protocol() protocol.ID            { return wire.ProtocolMeshsub12 }
func (panicStream) SetWriteDeadline(time.Time) error { return nil }

// TestServeInboundSurvivesAPanic (reliability case F8): a panic in the
// inbound reader goroutine — which protoactor does not supervise, so it
// would end the process — is recovered: the stream is reset, the session
// is told with StreamFailed (reason "panic", our fault: no penalty for the
// peer), the panic is counted and ServeInbound returns ErrPanicked.
func TestServeInboundSurvivesAPanic(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		drainDeadLetters(t)
		sys := actortest.NewSystem(t)
		probe := actortest.NewProbe(t, sys)
		m, _ := NewMetrics(nil)
		reset := false
		err := ServeInbound(sys.Root, probe.PID(), panicStream{reset: &reset}, 3, DefaultConfig(), m, InboundDeps{})
		if !errors.Is(err, ErrPanicked) || !strings.Contains(err.Error(), "read: boom") {
			t.Fatalf("ServeInbound returned %v, want ErrPanicked with the panic value", err)
		}
		sf := actortest.Expect[*pubsubv1.StreamFailed](probe)
		if sf.GetStream() != 3 || sf.GetRejectReason() != "panic" || sf.GetOutbound() {
			t.Fatalf("StreamFailed %v, want inbound stream 3, reason panic", sf)
		}
		if r := RejectReason(err); r != "panic" || !OurFault(r) {
			t.Fatalf("reason %q, our fault %v: a panic of ours must not cost the peer a penalty", r, OurFault(r))
		}
		if !reset {
			t.Fatal("the stream was not reset")
		}
		if n := testutil.ToFloat64(m.panics.WithLabelValues("inbound")); n != 1 {
			t.Fatalf("inbound panics counted %v, want 1", n)
		}
	})
}

// panicOnceOpener hands out a stream whose Write panics first, then those
// of seqOpener.
type panicOnceOpener struct {
	seqOpener
	reset    bool
	panicked bool
}

func (o *panicOnceOpener) OpenStream(ctx context.Context, p peer.ID, protos ...protocol.ID) (Stream, error) {
	if !o.panicked {
		o.panicked = true
		return panicStream{reset: &o.reset}, nil
	}
	return o.seqOpener.OpenStream(ctx, p, protos...)
}

// TestWriterSurvivesAPanic (reliability case F8): a panic in the session's
// writer goroutine fails the outbound stream like a write error — reset,
// counted, StreamFailed to the session — and the session reopens it at the
// next heartbeat with a new hello; the process goes on.
func TestWriterSurvivesAPanic(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		op := &panicOnceOpener{seqOpener: seqOpener{servers: make(chan net.Conn)}}
		h := newHarnessDeps(t, DefaultConfig(), func(d *Deps) { d.Opener = op }, "a")
		h.probe.Send(h.session, &pubsubv1.LocalTopics{Topics: []string{"a"}})
		synctest.Wait() // the hello's write panicked
		if n := testutil.ToFloat64(h.metrics.panics.WithLabelValues("outbound")); n != 1 || !op.reset {
			t.Fatalf("outbound panics %v (stream reset %v), want 1 and a reset", n, op.reset)
		}
		h.probe.Send(h.session, &heartbeatv1.Tick{})
		server := <-op.servers
		t.Cleanup(func() { server.Close() })
		rpc := &gossipsubv1.RPC{}
		if err := wire.NewReader(server, h.cfg.MaxFrame).ReadRPC(rpc); err != nil || !subscribedTopics(rpc)["a"] {
			t.Fatalf("reopened stream: hello %v, err %v", rpc, err)
		}
		if n := testutil.ToFloat64(h.metrics.reopens); n != 1 {
			t.Fatalf("reopens %v, want 1", n)
		}
	})
}
