package score

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkScore computes the score of 1,000 peers in 10 topics each (one
// iteration = all 1,000 peers), as the router does every heartbeat.
func BenchmarkScore(b *testing.B) {
	topics := make([]string, 10)
	for i := range topics {
		topics[i] = fmt.Sprintf("/waku/2/rs/1/%d", i)
	}
	p := DefaultWakuParams(topics...)
	r := rand.New(rand.NewPCG(1, 2))
	peers := make([]map[string]TopicCounters, 1000)
	pcs := make([]PeerCounters, len(peers))
	for i := range peers {
		peers[i] = make(map[string]TopicCounters, len(topics))
		for _, t := range topics {
			peers[i][t] = TopicCounters{
				InMesh: r.IntN(2) == 0, MeshTime: time.Duration(r.IntN(20)) * time.Second,
				FirstMessageDeliveries: r.Float64() * 10, MeshMessageDeliveries: r.Float64() * 2,
				MeshMessageDeliveriesActive: true, InvalidMessageDeliveries: float64(r.IntN(2)),
			}
		}
		pcs[i] = PeerCounters{BehaviourPenalty: r.Float64()}
	}
	var sink float64
	b.ReportAllocs()
	for b.Loop() {
		for i := range peers {
			sink += Score(&p, peers[i], pcs[i], 0)
		}
	}
	_ = sink
}
