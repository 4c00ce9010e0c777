// Package sim holds peermesh's simulation scenarios: tens to hundreds of
// nodes on a simulated network (internal/sim) inside a synctest bubble, so
// minutes of protocol time run in seconds and every run is reproducible.
//
// The first scenario is a scaled version of the gossipsub v1.1 evaluation's
// sybil/eclipse attacks (reliability-anchors a.2, scenarios 2, 6 and 8):
// sybils that subscribe, GRAFT and re-GRAFT but never forward are in place
// before the honest nodes connect, and honest delivery must stay 100 %.
//
// The package has no non-test code; this file exists to document it.
package sim
