package sim_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
)

// longSoakFull runs the long soak for 24 virtual hours; the default is the
// short version CI runs.
var longSoakFull = flag.Bool("longsoak.full", false, "run the long soak for 24 virtual hours (default: the short version)")

// longSoakPlan is one long soak.
type longSoakPlan struct {
	nodes  int
	length time.Duration
	// Every period: all nodes up, a delivery check from every node, then a
	// sample (heap, goroutines, peer stores); killAt into the period one
	// random node crashes and comes back downFor later, on its store.
	period  time.Duration
	killAt  time.Duration
	downMin time.Duration
	downMax time.Duration
	// traffic is one message from a random live node this often.
	traffic time.Duration
	// warmUp samples are not part of the baseline (the first mesh,
	// stores filling).
	warmUp time.Duration
}

// Bounds of "flat": a sample after the warm-up may exceed the baseline (the
// first sample after it) by this much.
const (
	soakHeapSlack      = 0.10    // 10 % of the baseline heap
	soakHeapSlackBytes = 4 << 20 // plus 4 MiB (one GC cycle's noise)
	soakGoroutineSlack = 0.05    // 5 % of the baseline goroutines
	soakGoroutineExtra = 20      // plus a restarted node's connections in setup
	soakPeriodDeadline = time.Minute
)

// TestLongSoak (reliability-anchors L6): whole nodes with churn (a crash and
// restart on the kept store every period) and traffic (a message a minute)
// run for 24 hours of virtual time (-longsoak.full: 16 nodes; CI runs 6 nodes
// for 1 hour). Every
// period, with all nodes up, a message from every node reaches every node,
// and a sample is taken: heap in use after a GC, goroutines, each node's
// peer store. Asserted: every sample after the warm-up within the baseline
// + 10 % + 4 MiB (heap) and + 5 % + 20 (goroutines); every peer store holds
// only real nodes (≤ nodes − 1) and no more than at the baseline. It logs
// the samples for docs/RELIABILITY.md (go test -v).
func TestLongSoak(t *testing.T) {
	plan := longSoakPlan{nodes: 6, length: time.Hour, period: 10 * time.Minute, killAt: 2 * time.Minute,
		downMin: 30 * time.Second, downMax: 3 * time.Minute, traffic: time.Minute, warmUp: 20 * time.Minute}
	if *longSoakFull {
		plan = longSoakPlan{nodes: 16, length: 24 * time.Hour, period: 30 * time.Minute, killAt: 2 * time.Minute,
			downMin: 30 * time.Second, downMax: 10 * time.Minute, traffic: time.Minute, warmUp: time.Hour}
	}
	bubble.Test(t, func(t *testing.T) { runLongSoak(t, plan, 1) })
}

type soakSample struct {
	at         time.Duration
	heap       uint64
	goroutines int
	stores     []int
	delivered  int
}

func runLongSoak(t *testing.T, plan longSoakPlan, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x24b))
	w := newWholeNet(t, plan.nodes, seed, nil)
	all := sim.Range(0, plan.nodes)
	for _, i := range all {
		w.discover(i, all)
	}
	start := time.Now()
	var samples []soakSample
	var baseline *soakSample
	restarts, traffic := 0, 0
	var trafficHashes []string
	for period := 0; time.Since(start)+plan.period <= plan.length; period++ {
		periodStart := time.Now()
		// The crash of this period.
		victim := w.nodes[rng.IntN(plan.nodes)]
		down := plan.downMin + time.Duration(rng.Int64N(int64(plan.downMax-plan.downMin)))
		killed := false
		for time.Since(periodStart) < plan.period-soakPeriodDeadline {
			sim.Advance(plan.traffic)
			w.collect()
			since := time.Since(periodStart)
			switch {
			case !killed && since >= plan.killAt:
				w.kill(victim)
				killed = true
			case killed && !victim.up && since >= plan.killAt+down:
				w.boot(victim, true)
				restarts++
			}
			if live := w.live(); len(live) > 0 {
				trafficHashes = append(trafficHashes, w.publish(live[rng.IntN(len(live))]))
				traffic++
			}
		}
		if !victim.up {
			t.Fatalf("period %d: node %d still down", period, victim.i)
		}
		// All nodes up: every node's message reaches every node.
		check := w.publishFromEach(all)
		w.settle(5 * time.Second)
		if miss := w.missing(all, check); len(miss) > 0 {
			t.Fatalf("%s: %d of %d deliveries missing: %s", time.Since(start).Round(time.Minute), len(miss),
				len(all)*len(check), strings.Join(miss[:min(5, len(miss))], "; "))
		}
		sim.Advance(plan.period - time.Since(periodStart))
		w.collect()
		s := w.sample(time.Since(start), len(all)*len(check))
		samples = append(samples, s)
		// Forget what was checked, so that the harness's own books do
		// not grow with the run.
		w.forget(append(check, trafficHashes...))
		trafficHashes = trafficHashes[:0]
		if baseline == nil && s.at >= plan.warmUp {
			baseline = &s
		}
	}
	if baseline == nil {
		t.Fatalf("no sample after the warm-up of %s", plan.warmUp)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "long soak: %d nodes, %s of virtual time, %d restarts, %d traffic messages\n", plan.nodes, plan.length, restarts, traffic)
	fmt.Fprintf(&b, "| at | heap MiB | goroutines | peer stores (min–max) | checked deliveries |\n|---|---|---|---|---|\n")
	var bad []string
	heapMax, goMax := baseline.heap, baseline.goroutines
	for _, s := range samples {
		fmt.Fprintf(&b, "| %s | %.1f | %d | %d–%d | %d |\n", s.at.Round(time.Minute), float64(s.heap)/(1<<20), s.goroutines,
			minOf(s.stores), maxOf(s.stores), s.delivered)
		for i, n := range s.stores {
			if n > plan.nodes-1 {
				bad = append(bad, fmt.Sprintf("%s: node %d holds %d peers, only %d others exist", s.at, i, n, plan.nodes-1))
			}
		}
		if s.at < baseline.at {
			continue
		}
		heapMax, goMax = max(heapMax, s.heap), max(goMax, s.goroutines)
		if lim := uint64(float64(baseline.heap)*(1+soakHeapSlack)) + soakHeapSlackBytes; s.heap > lim {
			bad = append(bad, fmt.Sprintf("%s: heap %d > %d (baseline %d)", s.at, s.heap, lim, baseline.heap))
		}
		if lim := int(float64(baseline.goroutines)*(1+soakGoroutineSlack)) + soakGoroutineExtra; s.goroutines > lim {
			bad = append(bad, fmt.Sprintf("%s: %d goroutines > %d (baseline %d)", s.at, s.goroutines, lim, baseline.goroutines))
		}
		if maxOf(s.stores) > maxOf(baseline.stores) {
			bad = append(bad, fmt.Sprintf("%s: a peer store of %d, baseline at most %d", s.at, maxOf(s.stores), maxOf(baseline.stores)))
		}
	}
	fmt.Fprintf(&b, "baseline at %s: heap %.1f MiB, %d goroutines; largest after it: heap %.1f MiB, %d goroutines",
		baseline.at.Round(time.Minute), float64(baseline.heap)/(1<<20), baseline.goroutines, float64(heapMax)/(1<<20), goMax)
	t.Log(b.String())
	if len(bad) > 0 {
		t.Fatalf("not flat:\n%s", strings.Join(bad, "\n"))
	}
}

// live are the nodes up now.
func (w *wholeNet) live() []int {
	var out []int
	for _, wn := range w.nodes {
		if wn.up {
			out = append(out, wn.i)
		}
	}
	return out
}

// forget drops the harness's record of hashes.
func (w *wholeNet) forget(hashes []string) {
	for _, h := range hashes {
		delete(w.published, h)
		for _, got := range w.got {
			delete(got, h)
		}
	}
}

// sample reads the process's heap in use after a GC, its goroutines and
// every node's peer store size.
func (w *wholeNet) sample(at time.Duration, delivered int) soakSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := soakSample{at: at, heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), delivered: delivered}
	for _, wn := range w.nodes {
		s.stores = append(s.stores, int(w.status(wn.i).GetPeerStoreSize()))
	}
	return s
}

func minOf(xs []int) int {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []int) int {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
