package attacks

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/attacker"
)

// TestTruncatedFramesLeaveNoGoroutines (b.2 M2): on real go-libp2p hosts
// on 127.0.0.1, a peer opens 200 streams in turn, each carrying a frame cut
// short and then FIN. Node 0 resets each (counted `truncated`, no penalty)
// and, once done, runs as many goroutines as before the first: the reader
// of a reset stream does not linger. Honest delivery goes on.
func TestTruncatedFramesLeaveNoGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hosts, rs := loopbackPair(t, ctx)
	a, target := loopbackAttacker(t, ctx, hosts[0])
	truncated, err := attacker.TruncatedFrame(attacker.GraftRPC(topic), 3)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	base := runtime.NumGoroutine()
	const streams = 200
	for k := range streams {
		if err := a.Open(ctx, target); err != nil {
			t.Fatalf("stream %d: %v", k, err)
		}
		if err := a.SendRaw(target, truncated); err != nil {
			t.Fatalf("stream %d: %v", k, err)
		}
		if err := a.CloseWrite(target); err != nil {
			t.Fatalf("stream %d: %v", k, err)
		}
		if _, err := a.WaitFor(ctx, target, func(r attacker.Record) bool { return r.OutboundClosed }); err != nil {
			t.Fatalf("stream %d: node 0 did not reset it: %v", k, err)
		}
	}
	// The reset reaches the peer before the reader counts it.
	eventually(t, rs, 10*time.Second, "every truncated frame counted", func() error {
		if n := rs.Metric(0, "libp2p_pubsub_frame_rejections_total", "reason", "truncated"); n != streams {
			return fmt.Errorf("%v truncated frames counted, want %d", n, streams)
		}
		return nil
	})
	var now int
	eventually(t, rs, 30*time.Second, "goroutines back to the baseline", func() error {
		runtime.GC()
		if now = runtime.NumGoroutine(); now > base+base/20+2 {
			return fmt.Errorf("%d goroutines, %d before the first truncated frame", now, base)
		}
		return nil
	})
	t.Logf("%d truncated frames: %d goroutines before, %d after", streams, base, now)
	if s := rs.Score(0, a.ID()); s.GetBehaviour() != 0 {
		t.Fatalf("truncated frames penalised: behaviour %.2f", s.GetBehaviour())
	}
	rs.ExpectDelivered(rs.Publish(5), deliveryTimeout)
}
