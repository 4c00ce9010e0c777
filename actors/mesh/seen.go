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

// seenEntry is what we remember about a message id: 48 bytes, since a
// node holds one for every message of the last SeenTTL (two minutes of
// traffic). Times are the heartbeat clock's, in Unix nanoseconds.
type seenEntry struct {
	id      MessageID
	state   seenState
	expires int64
	// validated is when validation finished: copies from mesh peers within
	// the P3 window after it still count as mesh deliveries.
	validated int64
	// pend is held only while pending validation.
	pend *pendingEntry
}

// pendingEntry is what a message pending validation needs besides its id.
type pendingEntry struct {
	from peer.ID
	msg  *gossipsubv1.Message
	// dups are the other peers that sent a copy (bounded): credited or
	// penalised with the first sender, and never forwarded the message.
	dups []peer.ID
}

// seenEntryBytes is what one seen entry costs besides its id's bytes: the
// ring slot (48 B, twice that while the ring is half full after growing)
// and the index's map entry (key header, slot and the map's own overhead,
// about 60 B). An estimate: the bound is on memory, so it need not be
// exact, only proportional.
const seenEntryBytes = 140

// seenCache remembers message ids for SeenTTL (the seed's salted seen
// table), however many arrive in that time: it is sized by time, not by a
// count (a count cap let duplicates through above ~833 msg/s per topic).
// Since the TTL is constant, entries expire in insertion order, so they live
// in a ring (oldest at head) indexed by id: no allocation per message. The
// ring grows by doubling; only the memory bound maxBytes (ids plus
// seenEntryBytes each) evicts an entry before its TTL, counted in
// Stats.SeenEvicted.
type seenCache struct {
	index    map[MessageID]int
	ring     []seenEntry
	head     int // slot of the oldest entry
	n        int
	ttl      time.Duration
	bytes    int // estimated memory held: Σ len(id) + seenEntryBytes
	maxBytes int
	pending  int
}

func (s *seenCache) init(ttl time.Duration, maxBytes int) {
	s.index = make(map[MessageID]int)
	s.ring = make([]seenEntry, 64)
	s.ttl = ttl
	s.maxBytes = maxBytes
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
	cost := len(e.id) + seenEntryBytes
	for s.n > 0 && s.bytes+cost > s.maxBytes {
		s.popOldest()
		st.SeenEvicted++
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	e.expires = now.Add(s.ttl).UnixNano()
	slot := (s.head + s.n) % len(s.ring)
	s.ring[slot] = e
	s.index[e.id] = slot
	s.n++
	s.bytes += cost
	if e.state == seenPending {
		s.pending++
	}
}

func (s *seenCache) grow() {
	ring := make([]seenEntry, 2*len(s.ring))
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
	s.bytes -= len(e.id) + seenEntryBytes
	delete(s.index, e.id)
	*e = seenEntry{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

// expire removes entries whose TTL has passed, and gives back the ring's
// memory once a burst has drained (a quarter full: halve it).
func (s *seenCache) expire(now time.Time) {
	for s.n > 0 && now.UnixNano() >= s.ring[s.head].expires {
		s.popOldest()
	}
	if len(s.ring) > 64 && s.n < len(s.ring)/4 {
		ring := make([]seenEntry, len(s.ring)/2)
		for i := range s.n {
			e := s.ring[(s.head+i)%len(s.ring)]
			ring[i] = e
			s.index[e.id] = i
		}
		s.ring, s.head = ring, 0
	}
}

// HasSeen reports whether the id is in the seen cache (seed: hasSeen).
func (t *Topic) HasSeen(id MessageID) bool { return t.seen.get(id) != nil }
