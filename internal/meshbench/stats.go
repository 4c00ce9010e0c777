package meshbench

import (
	"slices"
	"sync"
	"time"
)

// Recorder collects deliveries from every node. It is bounded: latencies
// beyond its capacity are counted but not stored, and the result says so.
type Recorder struct {
	mu         sync.Mutex
	firstSeen  map[uint64]*msgState
	latencies  []time.Duration
	deliveries int64
	duplicates int64
	overflow   int64
	expected   int64
	capacity   int
	n          int
}

// NewRecorder returns a recorder for n nodes storing at most capacity
// latencies.
func NewRecorder(n, capacity int) *Recorder {
	return &Recorder{n: n, capacity: capacity, firstSeen: make(map[uint64]*msgState)}
}

// Published notes that node published message index, to be received by
// the nodes marked in want (nil: every other node). want is retained.
func (r *Recorder) Published(index uint64, node int, want []bool) {
	expected := r.n - 1
	if want != nil {
		expected = 0
		for i, w := range want {
			if w && i != node {
				expected++
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.firstSeen[index] = &msgState{publisher: node, want: want, seen: make([]bool, r.n)}
	r.expected += int64(expected)
}

type msgState struct {
	publisher int
	want      []bool
	seen      []bool
}

// Delivered records that node received payload p at recv. Deliveries of
// unknown indices (warm-up traffic) and repeats are not counted.
func (r *Recorder) Delivered(node int, p []byte, recv time.Time) {
	index, sent, err := DecodePayload(p)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.firstSeen[index]
	if !ok || node < 0 || node >= r.n || node == m.publisher || (m.want != nil && !m.want[node]) {
		return // warm-up traffic, the publisher's own copy, or not a recipient
	}
	if m.seen[node] {
		r.duplicates++
		return
	}
	m.seen[node] = true
	r.deliveries++
	if len(r.latencies) < r.capacity {
		r.latencies = append(r.latencies, recv.Sub(time.Unix(0, sent)))
	} else {
		r.overflow++
	}
}

// Snapshot is what a recorder saw.
type Snapshot struct {
	Published  int
	Expected   int64
	Deliveries int64
	Duplicates int64
	P50, P99   time.Duration
	Max        time.Duration
}

// Snapshot computes the figures so far.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	lat := slices.Clone(r.latencies)
	s := Snapshot{Published: len(r.firstSeen), Expected: r.expected, Deliveries: r.deliveries, Duplicates: r.duplicates}
	r.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		s.P50 = percentile(lat, 0.50)
		s.P99 = percentile(lat, 0.99)
		s.Max = lat[len(lat)-1]
	}
	return s
}

// Complete reports whether every published message reached every node it
// should.
func (r *Recorder) Complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deliveries == r.expected
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}
