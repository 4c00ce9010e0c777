package mesh

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsSumOverTopics: libp2p_gossipsub_cache_window_size is one
// unlabelled gauge (as nim's): each topic adds the change of its own window,
// so two topics sum instead of the last writer winning, and a stopped topic
// takes its share out. libp2p_gossipsub_above_dhigh_condition counts per
// topic (issue 11 item 14).
func TestMetricsSumOverTopics(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a1 := Stats{CacheWindowSize: 30, AboveDhiConditions: 2}
	b1 := Stats{CacheWindowSize: 12}
	m.observe("a", Stats{}, a1, true)
	m.observe("b", Stats{}, b1, true)
	if got := testutil.ToFloat64(m.cacheWindow); got != 42 {
		t.Fatalf("cache window = %v, want 30 + 12", got)
	}
	a2 := Stats{CacheWindowSize: 5, AboveDhiConditions: 3}
	m.observe("a", a1, a2, false)
	if got := testutil.ToFloat64(m.cacheWindow); got != 17 {
		t.Fatalf("cache window after a shrinks to 5 = %v, want 17", got)
	}
	if a, b := testutil.ToFloat64(m.aboveDhi.WithLabelValues("a")), testutil.ToFloat64(m.aboveDhi.WithLabelValues("b")); a != 3 || b != 0 {
		t.Fatalf("above_dhigh_condition{a} = %v, {b} = %v; want 3, 0", a, b)
	}
	m.forget("a", a2)
	if got := testutil.ToFloat64(m.cacheWindow); got != 12 {
		t.Fatalf("cache window after a stopped = %v, want 12", got)
	}
	if n := testutil.CollectAndCount(m.aboveDhi); n != 1 {
		t.Fatalf("above_dhigh_condition series after a stopped = %d, want 1 (b)", n)
	}
}
