package meshbench

import (
	"slices"
	"sync"
	"time"
)

// Recorder collects deliveries from every node. It is bounded: latencies
// beyond its capacity are counted but not stored, and the result says so.
type Recorder struct {
	mu        sync.Mutex
	firstSeen map[uint64]*msgState
	latencies []time.Duration
	// open are the latencies from each message's scheduled publish time
	// (open loop): an implementation whose Publish blocks, publishing late,
	// does not hide the wait (no coordinated omission).
	open       []time.Duration
	lagMax     time.Duration // largest publish call time - scheduled time
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
	r.PublishedAt(index, node, want, time.Time{}, 0)
}

// PublishedAt is Published for a message scheduled at scheduled whose
// Publish call began lag after it (zero scheduled: the open-loop latency is
// the latency from the call).
func (r *Recorder) PublishedAt(index uint64, node int, want []bool, scheduled time.Time, lag time.Duration) {
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
	r.firstSeen[index] = &msgState{publisher: node, want: want, seen: make([]bool, r.n), scheduled: scheduled}
	r.expected += int64(expected)
	r.lagMax = max(r.lagMax, lag)
}

type msgState struct {
	publisher int
	want      []bool
	seen      []bool
	scheduled time.Time
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
		lat := recv.Sub(time.Unix(0, sent))
		r.latencies = append(r.latencies, lat)
		if !m.scheduled.IsZero() {
			lat = recv.Sub(m.scheduled)
		}
		r.open = append(r.open, lat)
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
	// OpenP50 and OpenP99 are measured from the scheduled publish times;
	// PublishLagMax is how late the latest Publish call began.
	OpenP50, OpenP99 time.Duration
	PublishLagMax    time.Duration
}

// Snapshot computes the figures so far.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	lat := slices.Clone(r.latencies)
	open := slices.Clone(r.open)
	s := Snapshot{Published: len(r.firstSeen), Expected: r.expected, Deliveries: r.deliveries, Duplicates: r.duplicates,
		PublishLagMax: r.lagMax}
	r.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		s.P50 = percentile(lat, 0.50)
		s.P99 = percentile(lat, 0.99)
		s.Max = lat[len(lat)-1]
	}
	slices.Sort(open)
	if len(open) > 0 {
		s.OpenP50 = percentile(open, 0.50)
		s.OpenP99 = percentile(open, 0.99)
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
