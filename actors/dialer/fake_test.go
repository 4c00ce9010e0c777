package dialer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// testPeer returns a valid peer id (an identity multihash) numbered n.
func testPeer(n int) peer.ID {
	s := fmt.Sprintf("test-peer-%d", n)
	return peer.ID(append([]byte{0x00, byte(len(s))}, s...))
}

// fakeDialer simulates dials: each takes the latency its plan gives and then
// returns the planned error, or the context's error if that comes first. It
// sleeps on timers, which inside a synctest bubble is virtual time.
type fakeDialer struct {
	self peer.ID
	// plan gives the latency and result of the n-th dial (0-based) of p.
	plan func(n int, p peer.ID, protocol string) (time.Duration, error)

	running concurrency

	mu        sync.Mutex
	connected map[peer.ID]bool
	calls     map[peer.ID]int
	total     int
	ctxErrs   []error
}

// concurrency counts calls running at once and remembers the peak.
type concurrency struct {
	mu         sync.Mutex
	now, peakN int
}

func (c *concurrency) enter() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now++
	c.peakN = max(c.peakN, c.now)
}

func (c *concurrency) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now--
}

func (c *concurrency) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peakN
}

func newFakeDialer(plan func(n int, p peer.ID, protocol string) (time.Duration, error)) *fakeDialer {
	return &fakeDialer{self: testPeer(-1), plan: plan, connected: map[peer.ID]bool{}, calls: map[peer.ID]int{}}
}

// fixed is a plan: every dial takes d and returns err.
func fixed(d time.Duration, err error) func(int, peer.ID, string) (time.Duration, error) {
	return func(int, peer.ID, string) (time.Duration, error) { return d, err }
}

// randomPlan gives each dial a latency up to maxLatency and one of the
// errors (nil: success), from a seeded generator.
func randomPlan(seed uint64, maxLatency time.Duration, errs ...error) func(int, peer.ID, string) (time.Duration, error) {
	var mu sync.Mutex
	rnd := rand.New(rand.NewPCG(seed, seed))
	return func(int, peer.ID, string) (time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		return time.Duration(rnd.Int64N(int64(maxLatency))), errs[rnd.IntN(len(errs))]
	}
}

func (f *fakeDialer) Self() peer.ID { return f.self }

func (f *fakeDialer) IsConnected(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected[p]
}

func (f *fakeDialer) Dial(ctx context.Context, p peer.ID, _ []ma.Multiaddr, protocol string) error {
	f.running.enter()
	defer f.running.leave()
	f.mu.Lock()
	n := f.calls[p]
	f.calls[p]++
	f.total++
	f.mu.Unlock()
	latency, err := f.plan(n, p, protocol)
	timer := time.NewTimer(latency)
	defer timer.Stop()
	select {
	case <-timer.C:
		if err == nil {
			f.mu.Lock()
			f.connected[p] = true
			f.mu.Unlock()
		}
		return err
	case <-ctx.Done():
		f.mu.Lock()
		f.ctxErrs = append(f.ctxErrs, ctx.Err())
		f.mu.Unlock()
		return ctx.Err()
	}
}

// stats returns the dial calls so far, per peer and in total, and the
// highest number of dials seen running at once.
func (f *fakeDialer) stats() (calls map[peer.ID]int, total, maxInFlight int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls = make(map[peer.ID]int, len(f.calls))
	for p, n := range f.calls {
		calls[p] = n
	}
	return calls, f.total, f.running.peak()
}

func (f *fakeDialer) contextErrors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.ctxErrs...)
}

// wantMetric fails the test unless the sample of name with labels is want.
func wantMetric(t testing.TB, reg prometheus.Gatherer, want float64, name string, labels ...string) {
	t.Helper()
	if got := metricValue(t, reg, name, labels...); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// metricValue reads one counter or gauge sample from reg; labels are
// name=value pairs. A missing series reads 0.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.GetCounter() != nil:
					return m.GetCounter().GetValue()
				case m.GetGauge() != nil:
					return m.GetGauge().GetValue()
				case m.GetHistogram() != nil:
					return float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
