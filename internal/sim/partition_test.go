package sim_test

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
)

// partitionFull runs the partition scenario with more nodes and a longer
// cut; the default is the short version CI runs.
var partitionFull = flag.Bool("partition.full", false, "run the partition-and-heal scenario at 40 nodes with a 10-minute cut")

// partitionPlan is one partition-and-heal run.
type partitionPlan struct {
	nodes      int
	discovered int           // peers each node learns from "discovery" at start
	warmUp     time.Duration // before the cut
	cutFor     time.Duration
	detectBy   time.Duration // every link across the cut closed within this of the cut
	healBy     time.Duration // meshes re-formed across the cut within this of the heal
}

// TestPartitionAndHeal (reliability-anchors F17): whole nodes (peer
// manager, dial pool, storage, router) on a simulated network are cut in two
// halves, then healed. Asserted:
//   - before the cut, every message reaches every node;
//   - during the cut, the connections across it close (keep-alives time
//     out), every node's mesh holds ≥ Dlo peers of its own half, and every
//     message published in a half reaches all of that half and none of the
//     other (published both right after the cut, while dead links across it
//     are still in meshes, and once the meshes re-formed);
//   - after the heal, within healBy: every node's mesh holds ≥ Dlo peers,
//     the meshes together form one connected graph (mesh links cross the
//     former cut), and a message from every node reaches every node: 100 %
//     across the former cut.
//
// It logs the figures of docs/RELIABILITY.md (go test -v).
func TestPartitionAndHeal(t *testing.T) {
	plan := partitionPlan{nodes: 12, discovered: 11, warmUp: time.Minute, cutFor: 2 * time.Minute,
		detectBy: 90 * time.Second, healBy: 10 * time.Minute}
	if *partitionFull {
		plan = partitionPlan{nodes: 40, discovered: 15, warmUp: 3 * time.Minute, cutFor: 10 * time.Minute,
			detectBy: 90 * time.Second, healBy: 30 * time.Minute}
	}
	bubble.Test(t, func(t *testing.T) { runPartition(t, plan, 1) })
}

func runPartition(t *testing.T, plan partitionPlan, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc07))
	w := newWholeNet(t, plan.nodes, seed, nil)
	all := sim.Range(0, plan.nodes)
	for i := range all {
		others := rng.Perm(plan.nodes)
		w.discover(i, others[:min(plan.discovered+1, plan.nodes)])
	}
	sim.Advance(plan.warmUp)

	// Before: every node gets every node's message.
	before := w.publishFromEach(all)
	w.settle(5 * time.Second)
	if miss := w.missing(all, before); len(miss) > 0 {
		t.Fatalf("before the cut: %d deliveries missing: %s", len(miss), strings.Join(miss[:min(5, len(miss))], "; "))
	}

	// The cut: a seeded half against the rest.
	half := map[int]bool{}
	for _, i := range rng.Perm(plan.nodes)[:plan.nodes/2] {
		half[i] = true
	}
	var sideA, sideB []int
	for _, i := range all {
		if half[i] {
			sideA = append(sideA, i)
		} else {
			sideB = append(sideB, i)
		}
	}
	across := func(i, j int) bool { return half[i] != half[j] }
	cutAt := time.Now()
	w.nw.Partition(across)

	// Right after the cut, while dead links are still in meshes.
	early := w.perHalf(t, "right after the cut", sideA, sideB)

	// The links across close.
	detected := time.Duration(0)
	for time.Since(cutAt) < plan.detectBy {
		sim.Advance(5 * time.Second)
		if w.crossConnections(across) == 0 {
			detected = time.Since(cutAt)
			break
		}
	}
	if detected == 0 {
		t.Fatalf("%d connections across the cut still open %s after it", w.crossConnections(across), plan.detectBy)
	}
	// The halves' meshes re-form within their halves.
	sim.Advance(plan.cutFor - time.Since(cutAt) - 10*time.Second)
	for _, i := range all {
		m := w.meshOf(i)
		if len(m) < wakuDlo {
			t.Errorf("during the cut: node %d mesh of %d, want ≥ Dlo %d", i, len(m), wakuDlo)
		}
		for _, p := range m {
			if j := w.index(p); j >= 0 && across(i, j) {
				t.Errorf("during the cut: node %d keeps node %d across the cut in its mesh", i, j)
			}
		}
	}
	late := w.perHalf(t, "late in the cut", sideA, sideB)

	// The heal.
	w.nw.Partition(nil)
	healAt := time.Now()
	var firstLink, meshed time.Duration
	for time.Since(healAt) < plan.healBy {
		sim.Advance(5 * time.Second)
		if firstLink == 0 && w.crossConnections(across) > 0 {
			firstLink = time.Since(healAt)
		}
		if firstLink > 0 && w.meshesAtLeastDlo(all) {
			meshed = time.Since(healAt)
			break
		}
	}
	if meshed == 0 {
		t.Fatalf("not healed %s after the heal: mesh sizes %v, links across %d",
			plan.healBy, w.meshSizes(all), w.crossConnections(across))
	}
	after := w.publishFromEach(all)
	w.settle(5 * time.Second)
	if miss := w.missing(all, after); len(miss) > 0 {
		t.Fatalf("after the heal: %d of %d deliveries missing: %s", len(miss), len(all)*len(after), strings.Join(miss[:min(5, len(miss))], "; "))
	}
	lat := w.latencies(all, after)
	t.Logf("partition and heal: %d nodes (%d | %d), cut for %s; links across closed %s after the cut; "+
		"in-half delivery %d/%d right after the cut and %d/%d late in it, 0 across; after the heal: first link across %s, "+
		"meshes ≥ Dlo %s, %d links across; delivery %d/%d, p99 %s, max %s; at the end: %d mesh links across, "+
		"meshes one connected graph: %v, mesh sizes %v",
		plan.nodes, len(sideA), len(sideB), plan.cutFor, detected, early.in, early.want, late.in, late.want,
		firstLink, meshed, w.crossConnections(across), w.received(all, after), len(all)*len(after),
		lat[len(lat)*99/100], lat[len(lat)-1], w.crossMeshLinks(all, across), w.meshConnected(all), w.meshSizes(all))
}

// publishFromEach publishes one message from each of nodes.
func (w *wholeNet) publishFromEach(nodes []int) []string {
	out := make([]string, 0, len(nodes))
	for _, i := range nodes {
		out = append(out, w.publish(i))
	}
	return out
}

// settle lets d of virtual time pass in 100 ms steps, collecting deliveries
// after each (so latencies are measured to 100 ms).
func (w *wholeNet) settle(d time.Duration) {
	for range int(d / (100 * time.Millisecond)) {
		sim.Advance(100 * time.Millisecond)
		w.collect()
	}
}

type halfDelivery struct{ in, want int }

// perHalf publishes from every node, lets 5 s pass and checks that each
// message reached every node of its publisher's half and no node of the
// other.
func (w *wholeNet) perHalf(t *testing.T, when string, a, b []int) halfDelivery {
	t.Helper()
	fromA, fromB := w.publishFromEach(a), w.publishFromEach(b)
	w.settle(5 * time.Second)
	var res halfDelivery
	for _, side := range []struct {
		own, other []int
		msgs       []string
	}{{a, b, fromA}, {b, a, fromB}} {
		if miss := w.missing(side.own, side.msgs); len(miss) > 0 {
			t.Fatalf("%s: %d in-half deliveries missing: %s", when, len(miss), strings.Join(miss[:min(5, len(miss))], "; "))
		}
		if n := w.received(side.other, side.msgs); n > 0 {
			t.Fatalf("%s: %d deliveries crossed the cut", when, n)
		}
		res.in += w.received(side.own, side.msgs)
		res.want += len(side.own) * len(side.msgs)
	}
	return res
}

// crossConnections counts the open connections between nodes across the
// cut.
func (w *wholeNet) crossConnections(across func(i, j int) bool) int {
	n := 0
	for i := range w.nodes {
		for j := i + 1; j < len(w.nodes); j++ {
			if across(i, j) && w.connected(i, j) {
				n++
			}
		}
	}
	return n
}

// crossMeshLinks counts the mesh entries (i has j in its mesh) across the
// cut.
func (w *wholeNet) crossMeshLinks(nodes []int, across func(i, j int) bool) int {
	n := 0
	for _, i := range nodes {
		for _, p := range w.meshOf(i) {
			if j := w.index(p); j >= 0 && across(i, j) {
				n++
			}
		}
	}
	return n
}

func (w *wholeNet) meshSizes(nodes []int) []int {
	out := make([]int, 0, len(nodes))
	for _, i := range nodes {
		out = append(out, len(w.meshOf(i)))
	}
	return out
}

// meshesAtLeastDlo: every node's mesh holds ≥ Dlo peers.
func (w *wholeNet) meshesAtLeastDlo(nodes []int) bool {
	for _, i := range nodes {
		if len(w.meshOf(i)) < wakuDlo {
			return false
		}
	}
	return true
}

// meshConnected reports whether the mesh links (either direction) connect
// every node of nodes.
func (w *wholeNet) meshConnected(nodes []int) bool {
	adj := map[int][]int{}
	for _, i := range nodes {
		for _, p := range w.meshOf(i) {
			if j := w.index(p); j >= 0 {
				adj[i] = append(adj[i], j)
				adj[j] = append(adj[j], i)
			}
		}
	}
	seen := map[int]bool{nodes[0]: true}
	queue := []int{nodes[0]}
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for _, j := range adj[i] {
			if !seen[j] {
				seen[j] = true
				queue = append(queue, j)
			}
		}
	}
	return len(seen) == len(nodes)
}
