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
	r.Published(7, 0)
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

func TestRecorderIsBounded(t *testing.T) {
	r := NewRecorder(2, 1)
	for i := range uint64(3) {
		p := make([]byte, HeaderSize)
		EncodePayload(p, i, 0)
		r.Published(i, 0)
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
