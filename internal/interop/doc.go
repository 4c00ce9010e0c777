// Package interop runs an independent gossipsub implementation (js-libp2p
// with ChainSafe's @chainsafe/libp2p-gossipsub 14, from
// testdata/interop/js) as a child process, so tests can check peermesh
// against it on the wire.
//
// [Start] installs the pinned npm packages when they are missing (npm ci,
// bounded in time; the only non-loopback traffic this package causes), starts
// peer.mjs with a [Config], waits for it to report its peer id and addresses,
// and stops it at test cleanup. The peer reports what it sees as JSON lines
// ([Event]); tests wait for them with [Peer.WaitFor] and drive the peer with
// [Peer.Request] (publish, mesh, peers, subscribe, dial, stop).
//
// Everything listens and dials on 127.0.0.1 only: Start refuses listen or
// dial addresses outside the loopback range.
package interop
