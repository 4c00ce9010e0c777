package mesh

import (
	"hash/maphash"
	"sync"
	"time"
)

// KnownIDs is a node's short memory of the message ids its topic actors
// have marked seen, shared with the sessions' stream readers so that a
// reader can drop the body of a copy the node already has before copying
// it out of the frame buffer (ADR 0027). Most copies a node receives are
// duplicates (about 6.5 of the 7.5 per delivery in M1); without it each was
// copied, queued through the session and the topic actor's mailboxes and
// thrown away there.
//
// It is a hint, not a second owner of the seen state: only a topic actor
// adds an id, and only after its seen cache holds it, and an id is
// forgotten within two windows, which are at most a quarter of the seen
// cache's TTL. So an id found here is in its topic's seen cache when the
// reader looks, and the topic actor still decides what the copy counts for
// (P3 credit, the copy's sender as a source during validation): it gets the
// id without the body. The one case a hint is wrong: the topic's seen cache
// dropped the id early (its memory bound, seen_evicted) or expired it while
// the copy waited; the copy is then dropped and counted
// (libp2p_gossipsub_topic_drops_total{reason="known_unseen"}), where it
// would otherwise have been delivered again.
//
// Keys are a seeded 64-bit hash of topic and id (the seed random per
// process), not copies of the ids: a collision (odds about n/2⁶⁴ per
// lookup, and a peer cannot aim at one without the seed) drops a new
// message's copy as above. Bounded by MaxEntries per window: when full, ids
// are not added (the readers then copy those messages as without it).
//
// Safe for concurrent use: a mutex held for one map operation.
type KnownIDs struct {
	seed   maphash.Seed
	window time.Duration
	max    int
	clock  func() time.Time

	mu       sync.Mutex
	cur      map[uint64]struct{}
	prev     map[uint64]struct{}
	curStart time.Time
	full     uint64 // adds refused at MaxEntries
}

// DefaultKnownWindow is KnownIDs' window: copies of a message arrive within
// the mesh's forwarding delay, seconds at most under overload (forwards
// older than 300 ms are shed at the sender, ADR 0021).
const DefaultKnownWindow = 2 * time.Second

// DefaultKnownMaxEntries bounds KnownIDs' ids per window: 32,768 msg/s
// over a 2 s window, about 1.5 MiB of maps at most for the two windows.
const DefaultKnownMaxEntries = 1 << 16

// NewKnownIDs returns a KnownIDs that remembers an id for one to two
// windows (zero: DefaultKnownWindow), at most maxEntries ids per window
// (zero: DefaultKnownMaxEntries). clock is a monotonic reading used only to
// age the entries (nil: time.Now); it is never compared with a Tick's now.
// A topic actor whose SeenTTL is under 4 windows (a margin for the two
// clocks) does not add to it.
func NewKnownIDs(window time.Duration, maxEntries int, clock func() time.Time) *KnownIDs {
	if window <= 0 {
		window = DefaultKnownWindow
	}
	if maxEntries <= 0 {
		maxEntries = DefaultKnownMaxEntries
	}
	if clock == nil {
		clock = time.Now
	}
	return &KnownIDs{
		seed: maphash.MakeSeed(), window: window, max: maxEntries, clock: clock,
		cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}, curStart: clock(),
	}
}

// key hashes topic and id apart (so their boundary cannot run together)
// and mixes the two: the one-shot maphash functions cost a third of a
// streaming maphash.Hash, and this runs for every received copy.
func (k *KnownIDs) key(topic string, id []byte) uint64 {
	return maphash.String(k.seed, topic)*0x9e3779b97f4a7c15 ^ maphash.Bytes(k.seed, id)
}

// age rotates the windows, which stay aligned to curStart: an id added
// at t is found until at most t + 2 windows. Called with mu held.
func (k *KnownIDs) age() {
	now := k.clock()
	since := now.Sub(k.curStart)
	switch {
	case since < k.window:
		return
	case since < 2*k.window:
		k.prev, k.cur = k.cur, k.prev
		k.curStart = k.curStart.Add(k.window)
	default:
		clear(k.prev)
		k.curStart = now
	}
	clear(k.cur)
}

// Add records that topic's seen cache holds id. Only a topic actor calls it.
func (k *KnownIDs) Add(topic string, id MessageID) {
	key := k.key(topic, []byte(id)) // no copy: the conversion does not escape
	k.mu.Lock()
	defer k.mu.Unlock()
	k.age()
	if len(k.cur) >= k.max {
		k.full++
		return
	}
	k.cur[key] = struct{}{}
}

// Has reports whether id was added for topic within the last one to two
// windows.
func (k *KnownIDs) Has(topic string, id []byte) bool {
	key := k.key(topic, id)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.age()
	if _, ok := k.cur[key]; ok {
		return true
	}
	_, ok := k.prev[key]
	return ok
}

// Window returns how long an id is remembered at least (at most twice that).
func (k *KnownIDs) Window() time.Duration { return k.window }

// Full returns how many ids were not added because the window was full.
func (k *KnownIDs) Full() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.full
}
