package attacks

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"github.com/peermesh/peermesh/wire"
)

// garbageFrame is one frame of n random bytes that is certainly not a
// protobuf RPC: its first byte is a field key of wire type 7, which no
// protobuf encoder produces.
func garbageFrame(rng *rand.Rand, n int) []byte {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(rng.UintN(256))
	}
	body[0] = 0x0f
	return wire.AppendEncodedFrame(nil, body)
}

// TestGarbageAtRate (b.1 M3): a peer sends undecodable frames to node 0 at
// 50 a second, a new stream for each (each one resets its stream, is counted
// `malformed` and costs a behaviour penalty), and reconnects whenever it is
// disconnected. Asserted: node 0 disconnects it within the heartbeat in
// which it passes MaxBadFramesPerHeartbeat (10) — node 0 handles at most
// 11 of its frames a connection — every time, counted in
// libp2p_pubsub_bad_frame_disconnects_total; its score is negative (kept
// across its reconnects: RetainScore); and the honest nodes' deliveries meanwhile are all
// there with the same mean and p95 latency (within 10 % plus one 10 ms
// collection step) as in the same rounds without it.
func TestGarbageAtRate(t *testing.T) {
	const (
		rounds   = 10 // one heartbeat each
		perRound = 4  // honest messages published per round
		rate     = 20 * time.Millisecond
	)
	bubble.Test(t, func(t *testing.T) {
		c := newCluster(t, setup{honest: 4, profile: wire.ProfileWaku})
		limit := c.Nodes[0].Config.Session.MaxBadFramesPerHeartbeat
		measure := func() (time.Duration, time.Duration, int, []string) {
			var published []string
			for range rounds {
				c.Tick()
				published = append(published, c.Publish(perRound)...)
				for range 100 { // a heartbeat, collected every 10 ms
					sim.Advance(10 * time.Millisecond)
					c.Collect()
				}
			}
			c.ExpectDelivered(published, deliveryTimeout)
			mean, p95, n := c.LatencyStats(published)
			return mean, p95, n, published
		}
		meanWithout, p95Without, nWithout, _ := measure()

		// The garbage peer, on its own goroutine of the bubble.
		target := c.connectAttacker(0)
		rng := rand.New(rand.NewPCG(3, 0x6a5))
		var mu sync.Mutex
		sent, connections := 0, 1
		perConn := []int{0}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			ticker := time.NewTicker(rate)
			defer ticker.Stop()
			for {
				select {
				case <-stop:
					return
				case <-ticker.C:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if c.atk.Host().Network().Connectedness(target) != network.Connected {
					if err := c.atk.Connect(ctx, c.nw.Info(0)); err != nil {
						cancel()
						continue
					}
					mu.Lock()
					connections++
					perConn = append(perConn, 0)
					mu.Unlock()
				}
				err := c.atk.Open(ctx, target)
				cancel()
				if err == nil && c.atk.SendRaw(target, garbageFrame(rng, 1+rng.IntN(500))) == nil {
					mu.Lock()
					sent++
					perConn[len(perConn)-1]++
					mu.Unlock()
				}
			}
		}()
		meanWith, p95With, nWith, _ := measure()
		close(stop)
		<-done
		sim.Advance(time.Second)

		disconnects := c.Metric(0, "libp2p_pubsub_bad_frame_disconnects_total")
		rejected := c.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", "malformed")
		score := c.Score(0, c.atk.ID())
		t.Logf("garbage peer: %d frames sent over %d connections (per connection %v), node 0 rejected %.0f and disconnected it %.0f times; "+
			"its score %.1f (behaviour %.1f); honest latency without it mean %s p95 %s (%d deliveries), with it mean %s p95 %s (%d deliveries)",
			sent, connections, perConn, rejected, disconnects, score.GetScore(), score.GetBehaviour(),
			meanWithout, p95Without, nWithout, meanWith, p95With, nWith)
		if disconnects < 2 || float64(connections) < disconnects {
			t.Fatalf("%.0f disconnects over %d connections, want the peer disconnected on each reconnect (≥ 2)", disconnects, connections)
		}
		// Each session of the peer ends at the frame that passes the limit
		// (the peer's frames in flight at the close are lost), and a
		// reconnect starts a new session: node 0 rejects at most limit + 1
		// frames per connection, the last one's at most limit + 1 too.
		if maxRejected := float64(limit+1) * (disconnects + 1); rejected > maxRejected {
			t.Errorf("node 0 rejected %.0f frames over %.0f disconnects, want ≤ %.0f", rejected, disconnects, maxRejected)
		}
		if score.GetScore() >= 0 {
			t.Errorf("node 0 scores the garbage peer %.1f (behaviour %.1f), want negative", score.GetScore(), score.GetBehaviour())
		}
		if nWith != nWithout {
			t.Fatalf("%d honest deliveries with the garbage peer, %d without", nWith, nWithout)
		}
		slack := func(d time.Duration) time.Duration { return d + d/10 + 10*time.Millisecond }
		if meanWith > slack(meanWithout) || p95With > slack(p95Without) {
			t.Fatalf("honest latency with the garbage peer mean %s p95 %s, without mean %s p95 %s", meanWith, p95With, meanWithout, p95Without)
		}
	})
}
