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
// Entries expire in insertion order, since the TTL is constant; when the
// cache is full the oldest entry is evicted early and counted.
type seenCache struct {
	entries map[MessageID]*seenEntry
	fifo    []MessageID // insertion order; head is fifo[head]
	head    int
	ttl     time.Duration
	max     int
	pending int
}

func (s *seenCache) init(ttl time.Duration, max int) {
	s.entries = make(map[MessageID]*seenEntry)
	s.ttl = ttl
	s.max = max
}

func (s *seenCache) len() int { return len(s.entries) }

func (s *seenCache) get(id MessageID) *seenEntry { return s.entries[id] }

// add inserts a new entry; the caller checked that id is absent.
func (s *seenCache) add(now time.Time, id MessageID, e *seenEntry, st *Stats) {
	if len(s.entries) >= s.max {
		s.popOldest()
		st.SeenEvicted++
	}
	e.expires = now.Add(s.ttl)
	s.entries[id] = e
	if e.state == seenPending {
		s.pending++
	}
	s.fifo = append(s.fifo, id)
}

func (s *seenCache) popOldest() {
	for s.head < len(s.fifo) {
		id := s.fifo[s.head]
		s.fifo[s.head] = ""
		s.head++
		if e, ok := s.entries[id]; ok {
			if e.state == seenPending {
				s.pending--
			}
			delete(s.entries, id)
			break
		}
	}
	s.compact()
}

// expire removes entries whose TTL has passed.
func (s *seenCache) expire(now time.Time, st *Stats) {
	for s.head < len(s.fifo) {
		id := s.fifo[s.head]
		e, ok := s.entries[id]
		if ok && now.Before(e.expires) {
			break
		}
		if ok {
			if e.state == seenPending {
				s.pending--
			}
			delete(s.entries, id)
		}
		s.fifo[s.head] = ""
		s.head++
	}
	s.compact()
}

// compact reclaims the consumed head of the fifo once it is half the slice.
func (s *seenCache) compact() {
	if s.head > 64 && s.head*2 >= len(s.fifo) {
		n := copy(s.fifo, s.fifo[s.head:])
		clear(s.fifo[n:])
		s.fifo = s.fifo[:n]
		s.head = 0
	}
}

// HasSeen reports whether the id is in the seen cache (seed: hasSeen).
func (t *Topic) HasSeen(id MessageID) bool { return t.seen.get(id) != nil }
