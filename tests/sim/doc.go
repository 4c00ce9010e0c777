// Package sim holds peermesh's simulation scenarios: tens to hundreds of
// nodes on a simulated network (internal/sim) inside a synctest bubble, so
// minutes of protocol time run in seconds and every run is reproducible.
//
// The scenarios are scaled versions of the gossipsub v1.1 evaluation's
// attacks (reliability-anchors a.2), all starting "at dawn": the sybils are
// in place, and fill every honest mesh, before the honest nodes connect.
//   - TestSybilEclipse (scenarios 2, 6, 8): sybils subscribe, GRAFT and
//     re-GRAFT but never forward.
//   - TestCovertFlash (scenario 7): sybils relay for a while, then all go
//     silent at once.
//   - TestCensorOnePublisher (scenario 4): sybils relay everything except
//     one honest publisher's messages.
//
// In each, every message an honest node publishes must reach every honest
// node within a deadline (100 % delivery).
//
// The package has no non-test code; this file exists to document it.
package sim
