package meshbench

import (
	"testing"
	"time"
)

func TestTopologyIsDeterministicConnectedAndDistinct(t *testing.T) {
	a, err := Topology(24, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Topology(24, 6, 1)
	if len(a) != len(b) {
		t.Fatalf("same seed gave %d and %d edges", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("edge %d differs: %v vs %v", i, a[i], b[i])
		}
	}
	seen := map[Edge]bool{}
	for _, e := range a {
		if e.A == e.B {
			t.Fatalf("self edge %v", e)
		}
		k := Edge{min(e.A, e.B), max(e.A, e.B)}
		if seen[k] {
			t.Fatalf("duplicate edge %v", e)
		}
		seen[k] = true
	}
	for i, d := range Degrees(24, a) {
		// Every node dialed 6 distinct others, so it has at least 6 neighbours.
		if d < 6 || d > 23 {
			t.Fatalf("node %d degree %d out of range", i, d)
		}
	}
}

func TestTopologyRejectsBadArguments(t *testing.T) {
	for _, tc := range []struct{ n, d int }{{1, 1}, {5, 0}, {5, 5}} {
		if _, err := Topology(tc.n, tc.d, 1); err == nil {
			t.Errorf("Topology(%d, %d) accepted", tc.n, tc.d)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := make([]byte, 1024)
	EncodePayload(p, 42, 1_700_000_000_123_456_789)
	i, ts, err := DecodePayload(p)
	if err != nil || i != 42 || ts != 1_700_000_000_123_456_789 {
		t.Fatalf("got %d %d %v", i, ts, err)
	}
	if _, _, err := DecodePayload(p[:15]); err == nil {
		t.Fatal("short payload accepted")
	}
}

func TestRecorderCountsFirstDeliveriesOnly(t *testing.T) {
	r := NewRecorder(3, 10)
	p := make([]byte, HeaderSize)
	sent := time.Unix(100, 0)
	EncodePayload(p, 7, sent.UnixNano())
	r.Published(7, 0, nil)
	r.Delivered(0, p, sent.Add(time.Millisecond))    // publisher's own copy
	r.Delivered(1, p, sent.Add(2*time.Millisecond))  // delivery
	r.Delivered(1, p, sent.Add(3*time.Millisecond))  // duplicate
	r.Delivered(2, p, sent.Add(10*time.Millisecond)) // delivery
	unknown := make([]byte, HeaderSize)
	EncodePayload(unknown, 8, sent.UnixNano())
	r.Delivered(2, unknown, sent) // never published: warm-up noise
	s := r.Snapshot()
	if s.Published != 1 || s.Deliveries != 2 || s.Duplicates != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	if s.Max != 10*time.Millisecond || s.P50 != 10*time.Millisecond && s.P50 != 2*time.Millisecond {
		t.Fatalf("latencies %+v", s)
	}
	if !r.Complete() {
		t.Fatal("all nodes received the message but Complete is false")
	}
}

// A publisher that fell behind its schedule (a blocking Publish) is charged
// the wait in the open-loop latency, not in the call-time latency.
func TestRecorderOpenLoopLatencyCountsPublishLag(t *testing.T) {
	r := NewRecorder(2, 10)
	scheduled := time.Unix(100, 0)
	called := scheduled.Add(300 * time.Millisecond)
	p := make([]byte, HeaderSize)
	EncodePayload(p, 1, called.UnixNano())
	r.PublishedAt(1, 0, nil, scheduled, called.Sub(scheduled))
	r.Delivered(1, p, called.Add(20*time.Millisecond))
	s := r.Snapshot()
	if s.P50 != 20*time.Millisecond || s.OpenP50 != 320*time.Millisecond || s.OpenP99 != 320*time.Millisecond {
		t.Fatalf("call-time p50 %v, open p50 %v p99 %v; want 20ms, 320ms, 320ms", s.P50, s.OpenP50, s.OpenP99)
	}
	if s.PublishLagMax != 300*time.Millisecond {
		t.Fatalf("publish lag %v; want 300ms", s.PublishLagMax)
	}
}

func TestRecorderIsBounded(t *testing.T) {
	r := NewRecorder(2, 1)
	for i := range uint64(3) {
		p := make([]byte, HeaderSize)
		EncodePayload(p, i, 0)
		r.Published(i, 0, nil)
		r.Delivered(1, p, time.Unix(0, 1))
	}
	if s := r.Snapshot(); s.Deliveries != 3 || len(r.latencies) != 1 || r.overflow != 2 {
		t.Fatalf("deliveries %d stored %d overflow %d", s.Deliveries, len(r.latencies), r.overflow)
	}
}

func TestSustainedRate(t *testing.T) {
	rows := []RateResult{
		{Rate: 100, DeliveryPct: 100, P99ms: 5},
		{Rate: 250, DeliveryPct: 99.95, P99ms: 900},
		{Rate: 500, DeliveryPct: 99.8, P99ms: 50},   // loses messages
		{Rate: 1000, DeliveryPct: 100, P99ms: 1200}, // too slow
	}
	if got := SustainedRate(rows); got != 250 {
		t.Fatalf("sustained = %d, want 250", got)
	}
}

func TestRecorderCountsOnlyWantedRecipients(t *testing.T) {
	r := NewRecorder(4, 10)
	p := make([]byte, HeaderSize)
	EncodePayload(p, 1, 0)
	r.Published(1, 0, []bool{true, false, true, false}) // node 2 subscribed, 1 and 3 not
	r.Delivered(1, p, time.Unix(0, 1))
	if r.Complete() {
		t.Fatal("complete before the one recipient got it")
	}
	r.Delivered(2, p, time.Unix(0, 1))
	if s := r.Snapshot(); !r.Complete() || s.Expected != 1 || s.Deliveries != 1 {
		t.Fatalf("expected 1 delivery to node 2, snapshot %+v", s)
	}
}

func TestAssignTopicsDistinctAndDeterministic(t *testing.T) {
	a := assignTopics(24, 200, 50, 1)
	b := assignTopics(24, 200, 50, 1)
	for i := range a {
		seen := map[int]bool{}
		for k, topic := range a[i] {
			if seen[topic] || topic < 0 || topic >= 200 || b[i][k] != topic {
				t.Fatalf("node %d: topics %v (repeat, out of range or not deterministic)", i, a[i])
			}
			seen[topic] = true
		}
		if len(a[i]) != 50 {
			t.Fatalf("node %d joined %d topics", i, len(a[i]))
		}
	}
}

func TestReachabilityFollowsSubscribersOnly(t *testing.T) {
	// 0-1-2-3 in a line; topic 0 has subscribers 0, 1, 3: node 2 is not
	// subscribed, so 3 is cut off from 0 and 1.
	edges := []Edge{{0, 1}, {1, 2}, {2, 3}}
	subs := [][]int{{0}, {0}, {}, {0}}
	member := membership(4, 1, subs)
	reach := reachability(4, 1, edges, member)
	want0 := []bool{true, true, false, false}
	for j, w := range want0 {
		if reach[0][0][j] != w {
			t.Fatalf("reach from 0 = %v, want %v", reach[0][0], want0)
		}
	}
	if !reach[0][3][3] || reach[0][3][0] {
		t.Fatalf("reach from 3 = %v, want only itself", reach[0][3])
	}
	if reach[0][2] != nil {
		t.Fatal("a non-subscriber has a reach set")
	}
	if got := topicPeerPairs(edges, subs, member); got != 2 {
		t.Fatalf("topic-peer pairs = %d, want 2 (0↔1)", got)
	}
}
