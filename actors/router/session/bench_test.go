package session

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// discardStream accepts every write (counting bytes and writes) and blocks
// reads until closed.
type discardStream struct {
	bytes  actortest.Counter // a Counter, so the benchmark waits on it
	writes atomic.Int64
	once   sync.Once
	closed chan struct{}
}

func (d *discardStream) Read([]byte) (int, error) { <-d.closed; return 0, context.Canceled }
func (d *discardStream) Write(b []byte) (int, error) {
	d.bytes.Add(int64(len(b)))
	d.writes.Add(1)
	return len(b), nil
}
func (d *discardStream) Close() error                     { d.once.Do(func() { close(d.closed) }); return nil }
func (d *discardStream) Reset() error                     { return d.Close() }
func (d *discardStream) Protocol() protocol.ID            { return wire.ProtocolMeshsub12 }
func (d *discardStream) SetWriteDeadline(time.Time) error { return nil }

type discardOpener struct{ s *discardStream }

func (o discardOpener) OpenStream(context.Context, peer.ID, ...protocol.ID) (Stream, error) {
	return o.s, nil
}

// benchRouter is a parent that does nothing with what sessions report. It
// closes spawned once its session exists: a message sent to the session's
// PID before that goes to dead letters, and the benchmark, waiting for its
// bytes, stalled on its drain deadline (with the session's queue and mailbox
// both empty) whenever the first sends beat the router's Started.
type benchRouter struct {
	child   *actor.Props
	spawned chan struct{}
}

func (r *benchRouter) Receive(c actor.Context) {
	if _, ok := c.Message().(*actor.Started); ok {
		_, _ = c.SpawnNamed(r.child, "peer/"+testPeer.String())
		close(r.spawned)
	}
}

// burst is how many messages BenchmarkSessionSend queues before waiting for
// the writer: well within the default 8 MiB queue.
const burst = 1024

// BenchmarkSessionSend: forwarded 1 KiB messages through one peer session
// (IDONTWANT check, queue, batching, framing, one write per batch) into a
// stream that accepts everything; timed until the last byte is written.
func BenchmarkSessionSend(b *testing.B) {
	sys := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(
		func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	b.Cleanup(sys.Shutdown)
	st := &discardStream{closed: make(chan struct{})}
	m, _ := NewMetrics(nil)
	deps := Deps{Peer: testPeer, Opener: discardOpener{st}, Metrics: m}
	spawned := make(chan struct{})
	router := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
		return &benchRouter{child: Props(DefaultConfig(), deps), spawned: spawned}
	}))
	<-spawned
	pid := PeerPID(router, testPeer.String())
	msg := &gossipsubv1.Message{Topic: proto.String("t"), Data: make([]byte, 1024)}
	size := int64(fieldCost(proto.Size(msg)))
	dropped := func() int64 { return int64(testutil.ToFloat64(m.queueDrops.WithLabelValues("forward"))) }
	// drained waits until every message sent so far was written (or, if the
	// queue ever overflowed, until the deadline; dropped/op then shows it).
	drained := func(n int) {
		if !st.bytes.WaitFor(int64(n)*size, 10*time.Second) && dropped() == 0 {
			b.Fatalf("%d of %d messages written in 10 s, none dropped", st.bytes.Load()/size, n)
		}
	}
	i := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		i++
		sys.Root.Send(pid, &pubsubv1.SendToPeer{Priority: pubsubv1.Priority_PRIORITY_FORWARD,
			Messages: []*pubsubv1.IdentifiedMessage{{Id: []byte{byte(i), byte(i >> 8), byte(i >> 16), byte(i >> 24)}, Message: msg}}})
		if i%burst == 0 {
			drained(i) // closed loop: bursts that fit the queue, so nothing is dropped
		}
	}
	drained(i)
	elapsed := time.Since(start).Seconds()
	written := st.bytes.Load() / size
	b.ReportMetric(float64(written)/elapsed, "written-msgs/s")
	b.ReportMetric(float64(dropped())/float64(i), "dropped/op")
	b.ReportMetric(float64(written)/float64(max(st.writes.Load(), 1)), "msgs/write")
}

// BenchmarkQueuePushPop: the queue core alone, one message in, batches out.
func BenchmarkQueuePushPop(b *testing.B) {
	q := NewQueue(8 << 20)
	msg := &gossipsubv1.Message{Topic: proto.String("t"), Data: make([]byte, 1024)}
	rpc := &gossipsubv1.RPC{}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		q.PushMessage(pubsubv1.Priority_PRIORITY_FORWARD, string(rune(i)), msg)
		if i%16 == 0 {
			rpc.Publish = rpc.Publish[:0]
			q.PopBatch(rpc, 1<<20)
		}
	}
}

// BenchmarkWithoutSentBatch is the IDONTWANT elision of the command a topic
// actor sends a mesh peer for a batch of 64 received messages (ADR 0021): 64
// forwards and 64 IDONTWANTs for other messages, with 32-byte ids.
func BenchmarkWithoutSentBatch(b *testing.B) {
	id := func(i int) []byte { return fmt.Appendf(nil, "%032d", i) }
	var msgs []*pubsubv1.IdentifiedMessage
	var idw []*gossipsubv1.ControlIDontWant
	for i := range 64 {
		msgs = append(msgs, &pubsubv1.IdentifiedMessage{Id: id(i)})
		idw = append(idw, &gossipsubv1.ControlIDontWant{MessageIDs: [][]byte{id(1000 + i)}})
	}
	for b.Loop() {
		withoutSent(idw, msgs)
	}
}

// BenchmarkRememberIHave is what a session keeps per id it advertises to its
// peer (ADR 0021): one IHAVE of 5,000 32-byte ids into an empty State.
func BenchmarkRememberIHave(b *testing.B) {
	ih := &gossipsubv1.ControlIHave{TopicID: proto.String("t")}
	for i := range 5000 {
		ih.MessageIDs = append(ih.MessageIDs, fmt.Appendf(nil, "%032d", i))
	}
	cfg := DefaultConfig()
	var c Counts
	for b.Loop() {
		s := NewState(cfg)
		s.rememberIHave([]*gossipsubv1.ControlIHave{ih}, &c)
	}
}
