// Package mplex is a stream multiplexer for go-libp2p speaking mplex
// (/mplex/6.7.0, libp2p/specs mplex), the only muxer js-waku's default node
// offers. go-libp2p dropped mplex and its adapter (go-libp2p-mplex) is
// archived; this is peermesh's own, small implementation (ADR 0018).
//
// A frame is uvarint(stream id << 3 | flag), uvarint(length), data. Flags
// say what the frame does (new stream, message, close, reset) and from
// which side: the stream's initiator or its receiver, whose ids are
// separate namespaces. Close is a half-close of the sender's writing side.
//
// mplex has no flow control. Bounds: a frame carries at most
// MaxMessageSize bytes (writes are split); a stream buffers at most
// MaxStreamBuffer unread bytes — beyond it the connection's reader waits up
// to ReceiveTimeout for the stream's reader (back-pressure through TCP, as
// go-mplex does) and then resets the stream; at most MaxStreams streams
// are open per connection (more are reset) and AcceptBacklog wait to be
// accepted (beyond, the reader waits ReceiveTimeout, then resets); outgoing frames queue in a bounded channel
// drained by one writer goroutine per connection, and a write waits for
// room only until the stream's write deadline.
package mplex
