package mesh

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// backoffTable maps a peer to the time until which we do not GRAFT it (and
// treat its GRAFTs as violations). Bounded by max; when full the entry
// expiring soonest makes room, since it is the least valuable.
type backoffTable struct {
	until map[peer.ID]time.Time
	max   int
}

func (b *backoffTable) init(max int) {
	b.until = make(map[peer.ID]time.Time)
	b.max = max
}

func (b *backoffTable) len() int { return len(b.until) }

// get returns the backoff end for the peer, zero if none.
func (b *backoffTable) get(id peer.ID) time.Time { return b.until[id] }

// active reports whether we are backing off from the peer at now.
func (b *backoffTable) active(id peer.ID, now time.Time) bool {
	u, ok := b.until[id]
	return ok && now.Before(u)
}

// set records a backoff until the given time; it returns true if an entry
// was evicted to make room.
func (b *backoffTable) set(id peer.ID, until time.Time) (evicted bool) {
	if _, ok := b.until[id]; !ok && len(b.until) >= b.max {
		var victim peer.ID
		var soonest time.Time
		first := true
		for p, u := range b.until {
			if first || u.Before(soonest) || (u.Equal(soonest) && p < victim) {
				victim, soonest, first = p, u, false
			}
		}
		delete(b.until, victim)
		evicted = true
	}
	b.until[id] = until
	return evicted
}

// expire removes backoffs that ended at or before now.
func (b *backoffTable) expire(now time.Time) {
	for p, u := range b.until {
		if !now.Before(u) {
			delete(b.until, p)
		}
	}
}

// HandleBackingOff removes expired backoffs (seed: handleBackingOff). The
// heartbeat calls it; it is exported for the adapter's tests and tools.
func (t *Topic) HandleBackingOff(now time.Time) { t.backoff.expire(now) }

// UpdateBackoff backs off from a peer for d from now, keeping a later
// existing backoff (seed: the backingOff.mgetOrPut updates).
func (t *Topic) UpdateBackoff(now time.Time, id peer.ID, d time.Duration) {
	t.extendBackoff(id, now.Add(d))
}

func (t *Topic) extendBackoff(id peer.ID, until time.Time) {
	if until.After(t.backoff.get(id)) {
		t.setBackoff(id, until)
	}
}

// setBackoff overwrites the backoff (a renewed backoff after a violating GRAFT).
func (t *Topic) setBackoff(id peer.ID, until time.Time) {
	if t.backoff.set(id, until) {
		t.stats.BackoffEvicted++
	}
}

// BackoffUntil returns when our backoff from the peer ends, and whether there is one.
func (t *Topic) BackoffUntil(id peer.ID) (time.Time, bool) {
	u, ok := t.backoff.until[id]
	return u, ok
}

// clampRemoteBackoff converts a PRUNE's backoff in seconds to a duration
// with the slack added, clamped to max without overflowing (seed: handlePrune).
func clampRemoteBackoff(seconds uint64, slack, max time.Duration) time.Duration {
	maxSec := uint64(max / time.Second)
	if seconds >= maxSec {
		return max
	}
	d := time.Duration(seconds)*time.Second + slack
	if d > max {
		return max
	}
	return d
}

// Backoffs appends the backoffs still running at now to dst (for the router
// to keep when the actor stops: ADR 0012, backoffs outlive the actor).
func (t *Topic) Backoffs(now time.Time, dst map[peer.ID]time.Time) {
	for id, u := range t.backoff.until {
		if now.Before(u) {
			dst[id] = u
		}
	}
}

// RestoreBackoff sets a backoff kept from a previous actor of the topic,
// keeping a later one already set.
func (t *Topic) RestoreBackoff(id peer.ID, until time.Time) { t.extendBackoff(id, until) }
