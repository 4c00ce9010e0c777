// Package sim builds the networks of peermesh's simulation and attack tests.
//
// New makes N go-libp2p hosts on a simulated network (github.com/marcopolo/simnet
// through go-libp2p's x/simlibp2p QUIC transport) with per-link latency and
// per-node bandwidth, meant to run inside a testing/synctest bubble: there every
// host, QUIC connection, actor and timer runs on the bubble's virtual clock, so a
// scenario of minutes of protocol time (backoffs, P3 activation windows, score
// decay) costs only the CPU of the packets and messages it really exchanges.
// The network is reproducible from its seeds (Topology connects the hosts in a
// seeded random graph); the routers on it are not: each draws its own random
// choices (ADR 0031) and goroutines interleave differently from run to run.
// Advance and Run move protocol time forward.
//
// StartRouters puts honest peermesh routers (router.DefaultConfig of a
// profile) on chosen hosts, joined to one topic, with helpers to run
// heartbeats, publish, check 100 % delivery and read scores, meshes and
// metrics; tests/attacks and tests/sim build on it.
//
// Whole nodes run on it too: peermesh.NewWithHost puts a node (storage,
// dial pool, peer manager, router, node actor) on a simulated host. With
// Config.Key the identities are seeded, Restart brings a node back under its
// id (on the store it kept), Replace puts a fresh id at an address (a flood
// of short-lived peers), and Partition cuts links until it is healed. The
// churn soak (TestChurnSoak, soak_test.go; docs/RELIABILITY.md) is built on
// them, and so are the partition-and-heal scenario (TestPartitionAndHeal),
// the 24-hour soak (TestLongSoak) and the baseline at scale
// (TestBaselineAtScale, routers only), each with a short CI version and a
// flag for the long one.
//
// LoopbackHost is the fallback for what must run on real sockets: a TCP host on
// 127.0.0.1 only, as the project's integration tests require.
//
// # What we learnt running x/simlibp2p in synctest
//
// It works for us, with four things to know:
//   - Identify's address discovery stalls a bubble, so New disables it (as
//     x/simlibp2p's own hosts do).
//   - go-libp2p negotiates a single-protocol stream lazily: the remote
//     handler runs only once the opener writes. A peer that waits for the
//     other side's stream before writing its own waits forever; every
//     gossipsub peer writes its hello first, and so must test peers.
//   - protoactor-go's dead-letter throttle starts a goroutine that waits one
//     throttle interval (1 s) after the first dead letter, which actors
//     stopped at cleanup produce; New's cleanup lets SettleAtEnd of protocol
//     time pass so that goroutine ends inside the bubble.
//   - Cost: under -race on 2 cores, a host takes about 60 ms of CPU to build
//     and a QUIC connection 10–40 ms to establish, and messages relayed
//     through many actors are latency-bound, not CPU-bound (one core busy).
//     40 honest routers and 160 sybils (about 2,000 connections, 90 s of
//     protocol time) take about 2 CPU-minutes; see tests/sim.
//
// Bounds and lifetime: every host and the simulated network are closed by the
// test's cleanup, which in a bubble runs inside it, so no goroutine outlives
// the bubble. Nothing here reads the wall clock or global randomness: latency
// jitter and topologies come from Config.Seed (identities from Config.Key
// when it is set).
package sim
