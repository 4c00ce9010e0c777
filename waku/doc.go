// Package waku groups what makes peermesh a Waku relay peer rather than a
// plain gossipsub node: the WakuMessage rules and deterministic hash
// (waku/message, RFC 14), cluster and shard topics with autosharding
// (waku/sharding, RFC 51 / relay-sharding), the metadata protocol
// (waku/metadata, RFC 66) and the node's ENR (waku/enr, RFC 31).
//
// Each sub-package is a pure library (no actors, no clock, no I/O beyond
// the streams a caller hands in), so the rules are table-tested against the
// RFCs' vectors and the node wires them in.
package waku
