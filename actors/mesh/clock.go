package mesh

import "time"

// tickClock is the topic actor's clock, in the heartbeat's clock domain
// (ADR 0012): every time the core sees comes from here. Each Tick sets it to
// the Tick's now; between ticks it advances by the actor's own monotonic
// elapsed time since it handled that Tick, capped at one heartbeat interval
// less 1 ns, so an event is never stamped at or past the time the next Tick
// will carry. It never moves backwards: a Tick older than the clock (late in
// the mailbox) leaves it where it is. Receive times stamped by reader
// goroutines are not used: mixing them with a Tick's now made MeshTime
// negative and pruned healthy mesh peers (issue 11 item 1).
type tickClock struct {
	read     func() time.Time // the actor's monotonic reading
	interval time.Duration
	base     time.Time // the last Tick's now (or the start time)
	at       time.Time // read() when base was set
	last     time.Time // the latest time handed out
}

func newTickClock(start time.Time, interval time.Duration, read func() time.Time) *tickClock {
	if interval <= 0 {
		interval = time.Second
	}
	c := &tickClock{read: read, interval: interval}
	if start.IsZero() {
		start = read()
	}
	c.base, c.at, c.last = start, read(), start
	return c
}

// tick takes a Tick's now and returns the clock after it.
func (c *tickClock) tick(now time.Time) time.Time {
	if now.Before(c.last) {
		now = c.last
	}
	c.base, c.at, c.last = now, c.read(), now
	return now
}

// now returns the time of an event handled now.
func (c *tickClock) now() time.Time {
	d := c.read().Sub(c.at)
	switch {
	case d < 0:
		d = 0
	case d >= c.interval:
		d = c.interval - time.Nanosecond
	}
	t := c.base.Add(d)
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}
