// Package waku groups what makes peermesh a Waku relay peer rather than a
// plain gossipsub node: the WakuMessage rules and deterministic hash
// (waku/message, RFC 14), cluster and shard topics with autosharding
// (waku/sharding, RFC 51 / relay-sharding), the metadata protocol
// (waku/metadata, RFC 66), the node's ENR (waku/enr, RFC 31), peer
// exchange's codec (waku/peerexchange, RFC 34) and the discovery actor
// (waku/discovery: discv5, RFC 33, and peer exchange).
//
// The codecs and rules are pure libraries (no actors, no clock, no I/O
// beyond the streams a caller hands in), table-tested against the RFCs'
// vectors; metadata and discovery are actors the node spawns.
package waku
