package sim_test

import (
	"context"
	"flag"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/bubble"
	"github.com/peermesh/peermesh/internal/sim"
	"github.com/peermesh/peermesh/wire"
)

// scaleNodes sets the node count of TestBaselineAtScale; 0 is the short
// version CI runs.
var scaleNodes = flag.Int("scale.nodes", 0, "nodes of the baseline-at-scale run (0: 30, the CI version; the full run is 1000)")

// Latency bounds of TestBaselineAtScale, per hop of the deepest path a
// message needs in a D-regular mesh of n nodes (ceil(log_D n) + 1 hops):
// one 25 ms ± 10 % link plus the time a router takes to pass a message on.
const (
	scaleLinkBound  = 28 * time.Millisecond // the longest link
	scaleMeanPerHop = scaleLinkBound + 5*time.Millisecond
	scaleP95PerHop  = scaleLinkBound + 15*time.Millisecond
)

// TestBaselineAtScale (reliability-anchors L1): n honest routers (waku
// profile) on a simulated network (25 ms ± 10 % links, 100 Mbit/s), each
// dialing 8 random others, mesh after a few heartbeats; then 5 messages a
// heartbeat from random nodes for 20 heartbeats (CI: 10), deliveries collected every
// 10 ms of virtual time. Asserted: 100 % delivery (every node gets every
// message), every node in a mesh of at most Dhi, mean latency ≤ hops × 33 ms and p95
// ≤ hops × 43 ms with hops = ceil(log_D n) + 1. CI runs 30 nodes; the full
// run is -scale.nodes 1000 (see docs/RELIABILITY.md).
func TestBaselineAtScale(t *testing.T) {
	n, beats := 30, 10
	if *scaleNodes > 0 {
		n, beats = *scaleNodes, 20
	}
	bubble.Test(t, func(t *testing.T) { runBaseline(t, n, beats) })
}

func runBaseline(t *testing.T, n, beats int) {
	const (
		degree   = 8
		perBeat  = 5
		topic    = "/waku/2/rs/0/0"
		collectE = 10 * time.Millisecond
	)
	nw, err := sim.New(t, sim.Config{Nodes: n, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rs := sim.StartRouters(t, nw.Hosts, wire.ProfileWaku, topic, 1)
	if _, err := nw.Topology(context.Background(), sim.Range(0, n), sim.Range(0, n), degree, 1); err != nil {
		t.Fatal(err)
	}
	sim.Advance(time.Second)
	rs.Heartbeats(5)

	var published []string
	for range beats {
		rs.Tick()
		published = append(published, rs.Publish(perBeat)...)
		for range int(time.Second / collectE) {
			sim.Advance(collectE)
			rs.Collect()
		}
	}
	rs.ExpectDelivered(published, 30*time.Second)
	mean, p95, deliveries := rs.LatencyStats(published)
	maxL, p99 := rs.Latency(published)

	cfg := rs.Nodes[0].Config.Mesh
	minMesh, maxMesh := math.MaxInt, 0
	for i := range rs.Nodes {
		m := len(rs.Mesh(i))
		minMesh, maxMesh = min(minMesh, m), max(maxMesh, m)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hops := int(math.Ceil(math.Log(float64(n))/math.Log(float64(cfg.D)))) + 1
	t.Logf("baseline at scale: %d nodes, %d messages, %d deliveries (%d expected): latency mean %s, p95 %s, p99 %s, max %s "+
		"(bounds for %d hops: mean %s, p95 %s); meshes %d–%d; heap in use %d MiB, sys %d MiB",
		n, len(published), deliveries, n*len(published), mean, p95, p99, maxL,
		hops, time.Duration(hops)*scaleMeanPerHop, time.Duration(hops)*scaleP95PerHop, minMesh, maxMesh,
		ms.HeapInuse>>20, ms.Sys>>20)
	if deliveries != n*len(published) {
		t.Fatalf("%d deliveries, want %d", deliveries, n*len(published))
	}
	// Not ≥ Dlo: 25 heartbeats after the start a node may still be below
	// it, its GRAFTs on connections it dialed refused by peers already at
	// Dhi (as go-libp2p-pubsub refuses them), until the 1-minute prune
	// backoff ends; its messages arrive by flood publishing and gossip.
	if minMesh < 1 || maxMesh > cfg.Dhi {
		t.Errorf("meshes %d–%d, want within [1, %d]", minMesh, maxMesh, cfg.Dhi)
	}
	if bound := time.Duration(hops) * scaleMeanPerHop; mean > bound {
		t.Errorf("mean latency %s > %s", mean, bound)
	}
	if bound := time.Duration(hops) * scaleP95PerHop; p95 > bound {
		t.Errorf("p95 latency %s > %s", p95, bound)
	}
}
