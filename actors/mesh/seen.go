package mesh

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

type seenState uint8

const (
	seenPending seenState = iota // waiting for validation
	seenAccepted
	seenRejected
	seenIgnored
	seenPublished // our own message
)

// seenEntry is what we remember about a message id.
type seenEntry struct {
	id      MessageID
	state   seenState
	expires time.Time
	// validated is when validation finished: copies from mesh peers within
	// the P3 window after it still count as mesh deliveries.
	validated time.Time
	from      peer.ID
	// msg is held only while pending validation.
	msg *gossipsubv1.Message
	// dups are the other peers that sent a copy (bounded): credited or
	// penalised with the first sender, and never forwarded the message.
	dups []peer.ID
}

// seenCache remembers message ids for a TTL (the seed's salted seen table).
// Since the TTL is constant, entries expire in insertion order, so they live
// in a ring (oldest at head) indexed by id: no allocation per message. The
// ring grows by doubling up to max; when it is full the oldest entry is
// evicted early and counted.
type seenCache struct {
	index   map[MessageID]int
	ring    []seenEntry
	head    int // slot of the oldest entry
	n       int
	ttl     time.Duration
	max     int
	pending int
}

func (s *seenCache) init(ttl time.Duration, max int) {
	s.index = make(map[MessageID]int)
	s.ring = make([]seenEntry, min(max, 64))
	s.ttl = ttl
	s.max = max
}

func (s *seenCache) len() int { return s.n }

// get returns the entry for id or nil. The pointer is valid until the next add.
func (s *seenCache) get(id MessageID) *seenEntry {
	slot, ok := s.index[id]
	if !ok {
		return nil
	}
	return &s.ring[slot]
}

// add inserts a new entry; the caller checked that e.id is absent.
func (s *seenCache) add(now time.Time, e seenEntry, st *Stats) {
	if s.n == len(s.ring) {
		if len(s.ring) < s.max {
			s.grow()
		} else {
			s.popOldest()
			st.SeenEvicted++
		}
	}
	e.expires = now.Add(s.ttl)
	slot := (s.head + s.n) % len(s.ring)
	s.ring[slot] = e
	s.index[e.id] = slot
	s.n++
	if e.state == seenPending {
		s.pending++
	}
}

func (s *seenCache) grow() {
	ring := make([]seenEntry, min(2*len(s.ring), s.max))
	for i := range s.n {
		e := s.ring[(s.head+i)%len(s.ring)]
		ring[i] = e
		s.index[e.id] = i
	}
	s.ring, s.head = ring, 0
}

func (s *seenCache) popOldest() {
	e := &s.ring[s.head]
	if e.state == seenPending {
		s.pending--
	}
	delete(s.index, e.id)
	*e = seenEntry{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

// expire removes entries whose TTL has passed.
func (s *seenCache) expire(now time.Time) {
	for s.n > 0 && !now.Before(s.ring[s.head].expires) {
		s.popOldest()
	}
}

// HasSeen reports whether the id is in the seen cache (seed: hasSeen).
func (t *Topic) HasSeen(id MessageID) bool { return t.seen.get(id) != nil }
