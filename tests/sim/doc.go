// Package sim holds peermesh's simulation scenarios: tens to hundreds of
// nodes on a simulated network (internal/sim) inside a synctest bubble, so
// minutes of protocol time run in seconds. The network and the publishers
// are seeded; each node's gossipsub choices are its own (crypto/rand, ADR
// 0031) and goroutine interleavings differ between runs, so every scenario
// asserts what must hold in every run, not one run's outcome.
//
// The scenarios are scaled versions of the gossipsub v1.1 evaluation's
// attacks (reliability-anchors a.2), all starting "at dawn": the sybils are
// in place, and fill the honest meshes they reach, before the honest nodes
// connect.
//   - TestBaseline (scenario 0): no sybils, the latency the others are read
//     against.
//   - TestEclipseOneNode (scenario 1): every sybil surrounds one node and
//     never forwards.
//   - TestSybilEclipse (scenarios 2, 6, 8): sybils subscribe, GRAFT and
//     re-GRAFT but never forward.
//   - TestEclipsePublishers (scenario 3): silent sybils surround only the
//     nodes that publish.
//   - TestCensorOnePublisher (scenario 4): sybils relay everything except
//     one honest publisher's messages.
//   - TestDegradation (scenario 5): sybils drop half of what they relay.
//   - TestCovertFlash (scenario 7): sybils relay for a while, then all go
//     silent at once.
//   - TestColocatedSybils (scenario 9): silent sybils packed on few IP
//     addresses.
//   - TestOpportunisticGraft (the "-oppgraft" variants): sybils relay, then
//     degrade; opportunistic grafting replaces them with better peers.
//
// In each, every message an honest node publishes must reach every honest
// node within a deadline (100 % delivery), and each logs its delivery-latency
// distribution (p10, p50, p90, p99, max; docs/RELIABILITY.md, L7). The
// -sim.full flag runs the scaled-up versions.
//
// The package has no non-test code; this file exists to document it.
package sim
