// Command meshbench runs the M1 benchmark of shared/BENCHMARKS.md against
// peermesh: N go-libp2p hosts in one process on 127.0.0.1 (TCP, Noise,
// Yamux), a seeded topology, one topic, 1 KiB messages at each rate from
// random publishers, and prints a row per rate (delivery %, latency
// p50/p99/max, CPU µs and wire bytes per delivery, heap per node, counted
// drops) and the sustained rate.
//
//	go run ./cmd/meshbench -variant nosign -rates 250,500,1000,2000
//	go run ./cmd/meshbench -json -cpuprofile m1.prof
//
// The nosign variant runs the waku profile (StrictNoSign, sha256(data) ids);
// the sign variant the libp2p profile (StrictSign, from||seqno ids); both
// with the scenario's D=6, Dlo=5, Dhi=12 and a 1 s heartbeat driven by the
// heartbeat actor. bench/reference runs go-libp2p-pubsub through the same
// harness for side-by-side figures.
package main
