// Package meshbench runs the M1 and M2 benchmark scenarios of
// shared/BENCHMARKS.md against any gossipsub implementation that can be
// driven through the small Impl interface: peermesh itself (cmd/meshbench)
// and, for side-by-side ratios on the same machine in the same run,
// go-libp2p-pubsub (the bench/reference module).
//
// Everything runs in one OS process on 127.0.0.1: N go-libp2p hosts with TCP,
// Noise and Yamux only, unlimited resource manager, no connection trimming, a
// deterministic topology from a seed. The harness owns the hosts, the load
// generator and the measurements, so both implementations are measured the
// same way:
//
//   - delivery ratio = deliveries / ((N-1) x published)
//   - one-way latency from the publish time carried in the payload
//   - CPU per delivery = process user+sys CPU in the window / deliveries
//   - wire bytes per delivery = bytes written on libp2p streams in the window
//     (go-libp2p's bandwidth counter, i.e. stream payload) / deliveries
//   - heap in use per node, sampled under load
package meshbench
