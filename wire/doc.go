// Package wire is the gossipsub wire layer of peermesh: length-prefixed RPC
// framing, the protocol ids of each profile and the features they enable,
// message signing and verification, and message-id functions.
//
// It is a pure library: no goroutines, no clock, no global randomness. Every
// function that reads bytes from a peer returns a typed error instead of
// panicking and never allocates in proportion to a length the peer declared
// but did not send.
//
// # Framing
//
// Each RPC on a gossipsub stream is uvarint(len) || protobuf(RPC), the
// de-facto framing of go-libp2p-pubsub (msgio varint reader), js-libp2p
// (it-length-prefixed) and nim-libp2p (readLp). [Reader] decodes frames from a
// stream through one reusable buffer; [Writer] batches several RPCs into one
// write to the underlying stream, because a Yamux/Noise stream write costs
// about 7 µs of CPU per frame written alone and about 1.3 µs when frames are
// buffered (BENCHMARKS.md, "Physical ceiling"). A Reader with
// [WithMessageFilter] shows each published message to a filter as a view
// into the frame buffer before copying it out, so a duplicate the caller
// recognises is never copied (ADR 0027); nothing decoded aliases the buffer,
// which goes back to the pool after each frame.
//
// [SplitRPC] cuts an RPC built by the router into parts under the peer's
// frame limit (IHAVE id lists included), and [AppendMessageFrame] /
// [Writer.WriteMessage] frame a message encoded once for every peer it is
// forwarded to.
//
// A frame that passes the size limit is still only a bound on bytes, not on
// work: a 1 MiB frame can hold 500,000 empty subscriptions or 300,000
// one-byte IHAVE ids. [DecodeRPC] therefore scans the protobuf structure
// first (no allocation) and rejects the whole RPC with a [*LimitError] when a
// repeated field exceeds its [Limits], before the protobuf decoder
// materialises a single entry. Rejecting rather than truncating keeps the
// decoder deterministic and lets the caller penalise the peer; the defaults
// are far above what honest peers send.
//
// # Profiles
//
// [ProfileWaku] speaks /vac/waku/relay/2.0.0 (preferred) and the meshsub ids,
// with StrictNoSign and sha256(data) message ids; [ProfileLibp2p] speaks the
// meshsub ids with StrictSign and from||seqno ids. [FeaturesOf] maps a
// negotiated protocol id to the features the router may use on that stream.
//
// # Signing
//
// [Signer] produces StrictSign messages (from, 8-byte big-endian seqno from a
// [SeqnoSource], signature over "libp2p-pubsub:" || protobuf(message without
// signature and key), key only when the peer id does not inline it).
// [VerifySignature] and [CheckPolicy] check received messages; [CheckFields]
// is the policy without the signature, for a router that verifies only the
// first copy of each message.
package wire
