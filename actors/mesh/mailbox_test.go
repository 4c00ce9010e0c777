package mesh

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// recordingDispatcher queues what it is asked to schedule instead of
// starting a goroutine.
type recordingDispatcher struct{ scheduled []func() }

func (d *recordingDispatcher) Schedule(fn func()) { d.scheduled = append(d.scheduled, fn) }
func (d *recordingDispatcher) Throughput() int    { return 300 }

// countInvoker counts what it handles; onUser, when set, runs in each
// user message's handling (a burst arriving meanwhile).
type countInvoker struct {
	user, sys int
	onUser    func(msg any)
}

func (i *countInvoker) InvokeSystemMessage(any) { i.sys++ }
func (i *countInvoker) InvokeUserMessage(msg any) {
	i.user++
	if i.onUser != nil {
		i.onUser(msg)
	}
}
func (i *countInvoker) EscalateFailure(any, any) {}

// TestTopicMailboxRunsIdleTickInline (ADR 0026): the router's TopicTick to
// an idle topic mailbox is handled in the poster's goroutine, before the
// post returns; a Tick to a mailbox with a backlog, and every other
// message, is scheduled on the props' dispatcher as before.
func TestTopicMailboxRunsIdleTickInline(t *testing.T) {
	load := newMailboxLoad(100)
	mb := load.producer()()
	inv, disp := &countInvoker{}, &recordingDispatcher{}
	mb.RegisterHandlers(inv, disp)
	mb.Start()

	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if inv.user != 1 || len(disp.scheduled) != 0 {
		t.Fatalf("idle Tick: %d handled inline, %d scheduled; want 1 and 0", inv.user, len(disp.scheduled))
	}
	mb.PostUserMessage(&pubsubv1.ReceivedMessages{})
	if inv.user != 1 || len(disp.scheduled) != 1 {
		t.Fatalf("received messages: %d handled inline, %d scheduled; want 1 and 1", inv.user, len(disp.scheduled))
	}
	// The mailbox is now running (scheduled, not yet run) with a backlog:
	// a Tick joins the queue and is not inlined.
	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if inv.user != 1 || len(disp.scheduled) != 1 {
		t.Fatalf("Tick behind a backlog: %d handled, %d scheduled; want 1 and 1", inv.user, len(disp.scheduled))
	}
	disp.scheduled[0]()
	if inv.user != 3 || load.depth.Load() != 0 {
		t.Fatalf("after the scheduled run: %d handled, depth %d; want 3 and 0", inv.user, load.depth.Load())
	}
	mb.PostUserMessage(&pubsubv1.ReceivedMessages{})
	if inv.user != 3 || len(disp.scheduled) != 2 {
		t.Fatalf("a later message was inlined: %d handled, %d scheduled", inv.user, len(disp.scheduled))
	}
}

// TestTopicMailboxInlineTickHandsBurstOn (ADR 0026, amended): a burst that reaches
// the mailbox while the router's goroutine runs an idle topic's Tick is not
// drained there: the inline activation handles the Tick only, the post
// returns, and the burst is handled by one activation on the dispatcher.
func TestTopicMailboxInlineTickHandsBurstOn(t *testing.T) {
	const burst = 500
	load := newMailboxLoad(10_000)
	mb := load.producer()()
	disp := &recordingDispatcher{}
	inv := &countInvoker{}
	inv.onUser = func(msg any) {
		if _, tick := msg.(*pubsubv1.TopicTick); !tick || inv.user > 1 {
			return
		}
		for range burst { // the sessions post while the Tick is handled
			mb.PostUserMessage(&pubsubv1.ReceivedMessages{})
		}
		mb.PostSystemMessage(&actor.Started{})
	}
	mb.RegisterHandlers(inv, disp)
	mb.Start()

	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if inv.user != 1 || len(disp.scheduled) != 1 || load.depth.Load() != burst {
		t.Fatalf("inline Tick: %d handled in the router's goroutine, %d scheduled, depth %d; want 1, 1, %d",
			inv.user, len(disp.scheduled), load.depth.Load(), burst)
	}
	// Until the handed-on activation runs, the mailbox counts as running:
	// another Tick neither runs inline nor schedules a second activation.
	mb.PostUserMessage(&pubsubv1.TopicTick{})
	if inv.user != 1 || len(disp.scheduled) != 1 {
		t.Fatalf("Tick behind the burst: %d handled, %d scheduled; want 1 and 1", inv.user, len(disp.scheduled))
	}
	disp.scheduled[0]()
	if inv.user != burst+2 || inv.sys != 1 || load.depth.Load() != 0 {
		t.Fatalf("handed-on activation: %d user and %d system messages handled, depth %d; want %d, 1, 0",
			inv.user, inv.sys, load.depth.Load(), burst+2)
	}
}

// TestTopicMailboxConcurrentPosters: sessions flooding the mailbox from
// several goroutines while the router posts Ticks, on the real goroutine
// dispatcher. Every message is handled exactly once, each poster's in
// order, never two at a time. Seeded; run under -race.
func TestTopicMailboxConcurrentPosters(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		posters, per, ticks := 1+rng.IntN(4), 50+rng.IntN(500), 20+rng.IntN(50)

		load := newMailboxLoad(1 << 20)
		mb := load.producer()()
		var (
			busy    atomic.Bool
			handled atomic.Int64
			mu      sync.Mutex
			last    = make([]int, posters)
			wrong   []string
			done    = make(chan struct{})
		)
		total := int64(posters*per + ticks)
		inv := &funcInvoker{user: func(msg any) {
			if !busy.CompareAndSwap(false, true) {
				mu.Lock()
				wrong = append(wrong, "two activations at once")
				mu.Unlock()
			}
			if m, ok := msg.(*seqMsg); ok {
				mu.Lock()
				if m.seq != last[m.poster]+1 {
					wrong = append(wrong, "out of order")
				}
				last[m.poster] = m.seq
				mu.Unlock()
			}
			busy.Store(false)
			if handled.Add(1) == total {
				close(done)
			}
		}}
		mb.RegisterHandlers(inv, actor.NewDefaultDispatcher(300))
		mb.Start()

		var wg sync.WaitGroup
		for p := range posters {
			wg.Go(func() {
				for s := 1; s <= per; s++ {
					mb.PostUserMessage(&seqMsg{poster: p, seq: s})
				}
			})
		}
		wg.Go(func() {
			for range ticks {
				mb.PostUserMessage(&pubsubv1.TopicTick{})
			}
		})
		wg.Wait()
		<-done
		if len(wrong) > 0 {
			t.Fatalf("seed %d: %v", seed, wrong[0])
		}
		for p, s := range last {
			if s != per {
				t.Fatalf("seed %d: poster %d: last handled %d of %d", seed, p, s, per)
			}
		}
		if load.depth.Load() != 0 {
			t.Fatalf("seed %d: depth %d after all were handled", seed, load.depth.Load())
		}
	}
}

type seqMsg struct{ poster, seq int }

type funcInvoker struct{ user func(any) }

func (i *funcInvoker) InvokeSystemMessage(any)   {}
func (i *funcInvoker) InvokeUserMessage(msg any) { i.user(msg) }
func (i *funcInvoker) EscalateFailure(any, any)  {}

var _ actor.Dispatcher = (*recordingDispatcher)(nil)
