// Package sim builds the networks of peermesh's simulation and attack tests.
//
// New makes N go-libp2p hosts on a simulated network (github.com/marcopolo/simnet
// through go-libp2p's x/simlibp2p QUIC transport) with per-link latency and
// per-node bandwidth, meant to run inside a testing/synctest bubble: there every
// host, QUIC connection, actor and timer runs on the bubble's virtual clock, so a
// scenario of minutes of protocol time (backoffs, P3 activation windows, score
// decay) costs only the CPU of the packets and messages it really exchanges, and
// a run is reproducible from its seed. Topology connects the hosts in a seeded
// random graph; Advance and Run move protocol time forward.
//
// StartRouters puts honest peermesh routers (router.DefaultConfig of a
// profile) on chosen hosts, joined to one topic, with helpers to run
// heartbeats, publish, check 100 % delivery and read scores, meshes and
// metrics; tests/attacks and tests/sim build on it.
//
// LoopbackHost is the fallback for what must run on real sockets: a TCP host on
// 127.0.0.1 only, as the project's integration tests require.
//
// Bounds and lifetime: every host and the simulated network are closed by the
// test's cleanup, which in a bubble runs inside it, so no goroutine outlives
// the bubble. Nothing here reads the wall clock or global randomness: latency
// jitter and topologies come from Config.Seed.
package sim
