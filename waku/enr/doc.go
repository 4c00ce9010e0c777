// Package enr builds and reads Waku node records (RFC 31/WAKU2-ENR, on
// EIP-778 records through go-ethereum's p2p/enr and p2p/enode, as go-waku
// does).
//
// A record carries the node's secp256k1 public key (its libp2p peer id),
// ip/tcp for its plain TCP address, `multiaddrs` for the others (WebSocket,
// DNS), `waku2` (the capability bits: relay 0x01, store, filter, lightpush,
// sync) and `rs` (cluster ‖ count ‖ shards, 16-bit big-endian). Records
// are signed with the node key ("v4" identity scheme); only secp256k1 keys
// can sign, so a node with another key type has no record (ADR 0016). A
// record is at most 300 bytes: multiaddrs that do not fit are left out,
// last first.
//
// Reading accepts `rs` and `rsv` (the bit vector, in nwaku's and go-waku's
// bit order); writing emits `rs` only, which every implementation reads.
package enr
