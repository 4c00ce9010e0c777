package session

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"

	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
)

// TestStateBadFrame: the count is per heartbeat and says "disconnect" once,
// at the frame that passes the limit; 0 disables it.
func TestStateBadFrame(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		// frames per heartbeat; want the indices (heartbeat, frame) that say
		// disconnect.
		frames []int
		want   [][2]int
	}{
		{"under the limit every heartbeat", 3, []int{3, 3, 3}, nil},
		{"passes it once", 3, []int{6}, [][2]int{{0, 3}}},
		{"again in a later heartbeat", 2, []int{3, 1, 4}, [][2]int{{0, 2}, {2, 2}}},
		{"disabled", 0, []int{100}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxBadFramesPerHeartbeat = tc.limit
			s := NewState(cfg)
			var got [][2]int
			for hb, n := range tc.frames {
				for f := range n {
					if s.BadFrame() {
						got = append(got, [2]int{hb, f})
					}
				}
				s.Heartbeat()
			}
			if len(got) != len(tc.want) {
				t.Fatalf("disconnects at %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("disconnects at %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// closeRecorder is a PeerCloser that records the peers it was asked to
// close.
type closeRecorder struct {
	mu     sync.Mutex
	closed []peer.ID
}

func (c *closeRecorder) ClosePeer(p peer.ID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = append(c.closed, p)
	return nil
}

func (c *closeRecorder) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.closed)
}

// TestSessionDisconnectsAPeerOverTheBadFrameRate (reliability M3): bad
// frames of the peer's inbound streams (StreamFailed with a PeerFault
// reason) up to MaxBadFramesPerHeartbeat in a heartbeat keep the peer; one
// more closes its connections once, counted; truncated frames and our own
// faults never count; the count starts again at each heartbeat.
func TestSessionDisconnectsAPeerOverTheBadFrameRate(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxBadFramesPerHeartbeat = 5
		rec := &closeRecorder{}
		h := newHarnessDeps(t, cfg, func(d *Deps) { d.Closer = rec })
		h.joined(t, "t")
		fail := func(reason string, n int) {
			for range n {
				h.probe.Send(h.session, &pubsubv1.StreamFailed{Stream: 7, Error: "bad frame", RejectReason: reason})
			}
			synctest.Wait()
		}
		// Not the peer's fault, however many.
		fail("truncated", 20)
		fail("stalled", 20)
		fail("panic", 20)
		// The peer's fault, at the limit, in two heartbeats.
		fail("malformed", 5)
		h.probe.Send(h.session, &heartbeatv1.Tick{})
		fail("too_large", 3)
		fail("limit", 2)
		if n := rec.count(); n != 0 {
			t.Fatalf("peer closed %d times at the limit, want 0", n)
		}
		fail("malformed", 1) // the 6th in this heartbeat
		fail("malformed", 10)
		if n := rec.count(); n != 1 {
			t.Fatalf("peer closed %d times over the limit, want 1", n)
		}
		if rec.closed[0] != testPeer {
			t.Fatalf("closed %v, want the session's peer", rec.closed[0])
		}
		if got := testutil.ToFloat64(h.metrics.badFrameCloses); got != 1 {
			t.Fatalf("libp2p_pubsub_bad_frame_disconnects_total = %v, want 1", got)
		}
	})
}
