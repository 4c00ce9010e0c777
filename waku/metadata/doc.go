// Package metadata implements the Waku metadata protocol (RFC 66,
// /vac/waku/metadata/1.0.0): the codec and stream exchange (codec.go), and
// the metadata actor that runs it for a node.
//
// # The actor
//
// It owns what the node says about itself (cluster and shards, replaced by
// wakuv1.SetLocalMetadata when the node's topics change) and the exchanges
// in flight. It serves inbound metadata streams on the host (each on the
// stream's own goroutine, answering with the current local metadata), and
// on every pmv1.PeerConnected — the first connection to a peer, either
// direction, as nwaku asks on every peer Joined — it requests the peer's
// metadata on a goroutine of its own, which reports back to the actor as
// pmv1.PeerMetadata. The actor forwards the report to the peer manager,
// which records the shards and disconnects a peer of another cluster
// (recorded, never redialed).
//
// Bounds: MaxInFlight exchanges at once, MaxQueued peers waiting (oldest
// kept; a connection beyond the queue is not asked and counted as
// result="dropped"), Timeout per exchange, messages of at most
// MaxMessageSize bytes. Metrics: waku_metadata_exchanges_total{result},
// waku_metadata_served_total{result}, waku_metadata_in_flight.
//
// A failed exchange (no stream: the peer does not speak the protocol, a
// timeout, an undecodable answer) is reported with its error and the peer
// is kept: nwaku disconnects such peers, but plain gossipsub peers on the
// Waku relay protocol (go-libp2p-pubsub in our interop tests) have no
// metadata to give; a peer that answers with another cluster, or none, is
// disconnected (ADR 0014).
package metadata
