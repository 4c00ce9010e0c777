package mesh

import (
	"testing"
	"time"
)

// fakeReading is a monotonic reading the test moves by hand.
type fakeReading struct{ t time.Time }

func (f *fakeReading) read() time.Time { return f.t }

func TestTickClock(t *testing.T) {
	local := &fakeReading{t: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)} // a different domain from t0
	c := newTickClock(t0, time.Second, local.read)
	if got := c.now(); !got.Equal(t0) {
		t.Fatalf("start: %v, want the router's last tick %v", got, t0)
	}
	// Between ticks: the tick's now plus the actor's elapsed time.
	local.t = local.t.Add(300 * time.Millisecond)
	if got := c.now(); !got.Equal(t0.Add(300 * time.Millisecond)) {
		t.Fatalf("300 ms after the tick: %v", got)
	}
	// Capped below the next tick's time however long the gap.
	local.t = local.t.Add(5 * time.Second)
	if got := c.now(); !got.Equal(t0.Add(time.Second - time.Nanosecond)) {
		t.Fatalf("after a stall: %v, want capped at tick + interval − 1 ns", got)
	}
	// The next Tick carries a now after every event so far.
	if got := c.tick(t0.Add(time.Second)); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick: %v", got)
	}
	// A late Tick older than the clock (the bug of issue 11 item 1: a GRAFT
	// stamped after a Tick's now) never moves it backwards.
	local.t = local.t.Add(400 * time.Millisecond)
	ev := c.now()
	if got := c.tick(t0.Add(1200 * time.Millisecond)); got.Before(ev) {
		t.Fatalf("late tick moved the clock back: %v < event %v", got, ev)
	}
	if got := c.now(); got.Before(ev) {
		t.Fatalf("clock went backwards: %v < %v", got, ev)
	}
	// A reading that goes backwards (another domain) is not trusted either.
	local.t = local.t.Add(-time.Hour)
	if got := c.now(); got.Before(ev) {
		t.Fatalf("clock went backwards with the reading: %v", got)
	}
}
