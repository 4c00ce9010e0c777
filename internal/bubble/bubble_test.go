package bubble_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
)

// TestBubbleRestoresGOMAXPROCS: the bubble's virtual clock works as
// synctest's does, the bubble runs on one P exactly when the race detector
// is on, and the previous setting is back afterwards.
func TestBubbleRestoresGOMAXPROCS(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	bubble.Test(t, func(t *testing.T) {
		start := time.Now()
		time.Sleep(time.Hour) // virtual: returns at once
		if got := time.Since(start); got != time.Hour {
			t.Errorf("virtual clock advanced %v, want 1h", got)
		}
		want := before
		if raceOn {
			want = 1
		}
		if got := runtime.GOMAXPROCS(0); got != want {
			t.Errorf("GOMAXPROCS inside the bubble = %d, want %d (race %v)", got, want, raceOn)
		}
	})
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after the bubble = %d, want %d", got, before)
	}
}
