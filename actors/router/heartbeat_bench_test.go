package router

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/peermesh/peermesh/actors/mesh"
	"github.com/peermesh/peermesh/score"
)

// BenchmarkHeartbeat100Topics50Peers is issue 5's "heartbeat of 100 topics ×
// 50 peers with scoring on", on the pure cores the actors drive: each
// iteration is one heartbeat of the whole node — every topic reports its
// P1–P4 counters to the book, the book recomputes every peer's score, every
// topic receives the scores and runs its heartbeat (rebalance, gossip,
// cache shift, counter refresh). Actor hops are measured separately
// (BenchmarkTopicActorHeartbeat100).
func BenchmarkHeartbeat100Topics50Peers(b *testing.B) {
	const topics, peers = 100, 50
	cfg := mesh.DefaultConfig(mesh.ProfileWaku)
	params := score.DefaultWakuParams()
	book := NewBook(peers, params, cfg.Thresholds)
	ids := make([]peer.ID, peers)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprintf("bench-peer-%03d", i))
		book.AddPeer(ids[i], i%3 == 0)
	}
	t0 := time.Unix(1_700_000_000, 0)
	cores := make([]*mesh.Topic, topics)
	for k := range cores {
		name := fmt.Sprintf("topic-%03d", k)
		book.SetTopicParams(name, cfg.Score)
		tp, err := mesh.NewTopic(name, cfg, rand.New(rand.NewPCG(uint64(k), 1)))
		if err != nil {
			b.Fatal(err)
		}
		tp.Join(t0)
		for i, id := range ids {
			book.Subscribe(id, name, true)
			tp.AddPeer(t0, mesh.PeerAttrs{ID: id, Outbound: i%3 == 0,
				Features: mesh.Features{PX: true, Backoff: true, IDontWant: true}})
		}
		tp.Heartbeat(t0) // form the mesh
		cores[k] = tp
	}
	scores := make(map[peer.ID]float64, peers)
	var reports []mesh.CounterReport
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		for _, tp := range cores {
			reports = tp.AppendCounters(reports[:0])
			for _, r := range reports {
				book.Report(tp.Name(), r.Peer, r.Counters)
			}
		}
		book.Heartbeat(now, scores)
		for _, tp := range cores {
			tp.SetScores(scores)
			tp.Heartbeat(now)
		}
	}
	b.ReportMetric(float64(topics*peers), "topic-peer-pairs")
}
