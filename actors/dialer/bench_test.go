package dialer

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/peermesh/peermesh/internal/actorkit"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// BenchmarkPool measures the pure core in steady state: 10 dials running,
// about 100 queued; each iteration admits one dial and finishes one.
func BenchmarkPool(b *testing.B) {
	const distinct, backlog = 4096, 100
	cfg := DefaultConfig()
	peers := make([]Request, distinct)
	for i := range peers {
		peers[i] = Request{Peer: peer.ID(fmt.Sprintf("peer-%d", i)), Source: dialerv1.DialSource(1 + i%6), Timeout: time.Second}
	}
	p := NewPool[int](cfg, "self")
	now := t0
	running := make([]uint64, 0, 2*distinct)
	next := 0
	enqueue := func() {
		eff := p.Enqueue(now, next, peers[next%distinct], false)
		for _, s := range eff.Start {
			running = append(running, s.ID)
		}
		next++
	}
	for range cfg.MaxInFlight + backlog {
		enqueue()
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		enqueue()
		id := running[0]
		running = running[1:]
		if len(running) == 0 {
			running = running[:0:0] // keep the backing array from growing forever
		}
		for _, s := range p.OnDialFinished(now, id, connected, "").Start {
			running = append(running, s.ID)
		}
	}
}

// instantDialer connects at once and never reports a peer as connected, so
// every request is a real dial through the pool.
type instantDialer struct{}

func (instantDialer) Dial(context.Context, peer.ID, []ma.Multiaddr, string) error { return nil }
func (instantDialer) IsConnected(peer.ID) bool                                    { return false }
func (instantDialer) Self() peer.ID                                               { return "self" }

// BenchmarkActor measures the overhead of the pool actor with an instant
// dialer: each iteration sends 1,000 DialPeer requests (10 in flight, the
// rest queued) and waits for the 1,000 answers. The dials/s metric is the
// throughput through the actor (target: 100,000 dials/s).
func BenchmarkActor(b *testing.B) {
	const batch = 1000
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) })))
	defer sys.Shutdown()
	pool := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: instantDialer{}}))
	done := make(chan struct{}, 1)
	answers := 0
	counter := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if _, ok := c.Message().(*dialerv1.DialCompleted); ok {
				if answers++; answers == batch {
					answers = 0
					done <- struct{}{}
				}
			}
		})
	}))
	msgs := make([]*dialerv1.DialPeer, batch)
	for i := range msgs {
		msgs[i] = &dialerv1.DialPeer{PeerId: []byte(testPeer(i)), Source: dialerv1.DialSource_DIAL_SOURCE_PX}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			sys.Root.RequestWithCustomSender(pool, m, counter)
		}
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatal("answers did not arrive within a minute")
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "dials/s")
}
