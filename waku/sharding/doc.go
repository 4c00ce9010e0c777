// Package sharding implements Waku relay sharding (RFC 51, now
// waku-org/specs standards/core/relay-sharding): static shard topics
// /waku/2/rs/<cluster>/<shard>, content topics
// /{application}/{version}/{name}/{encoding} (optionally prefixed with a
// generation, which must be 0), and autosharding, the map from a content
// topic to the shard of a cluster with N shards.
//
// Autosharding takes the last 64 bits of sha256(application ‖ version),
// big-endian, modulo N — the form nwaku (waku_core/topics/sharding.nim),
// go-waku (protocol/shard.go) and js-waku (utils/sharding) implement. The
// spec's text says "hash mod N" over the whole digest, which agrees only for
// powers of two; the implementations are what peers route by.
package sharding
