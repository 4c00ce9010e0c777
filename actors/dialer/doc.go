// Package dialer is the dial pool: every outbound connection attempt of the
// node goes through one actor, whoever asks (static nodes, REST/API,
// reconnect after restart, service slots, the relay connectivity loop, peer
// exchange), so at most Config.MaxInFlight dials (default 10, nwaku's
// MaxParallelDials) run at any moment.
//
// # What it owns
//
// The queue of admitted dials, the dedupe set (one dial per peer and
// protocol, however many ask) and the in-flight set. Peer records, backoff
// and the decision whom to dial belong to the peer manager.
//
// # Messages (messages/dialer/v1)
//
// Accepts:
//   - DialPeer, sent as a Request: exactly one DialCompleted goes back to the
//     sender (none when sent without a sender).
//   - CancelDial: requesters of the peer's queued or running dials get
//     DialCompleted CANCELLED; the canceller gets no answer.
//   - GetDialStatus, as a Request: answered with DialStatus.
//   - DialFinished: only from its own dial goroutines.
//
// Emits DialCompleted and DialStatus, nothing else.
//
// # Rules (Pool.Enqueue)
//
// Dialing self, an invalid request (empty or malformed peer id, malformed
// address, address naming another peer, too many addresses, unknown source,
// bad timeout) and a full queue are answered REJECTED at once with the
// reason. A peer already connected is answered CONNECTED at once unless a
// protocol is asked for. A request for a peer and protocol already queued or
// running joins that dial. Otherwise the dial starts if a slot is free, or
// waits: FIFO within a priority, static and API before cache, service,
// relay and px. Each dial gets a context bounded by its timeout (default
// 10 s); the time spent queued does not count against it.
//
// # Bounds and behaviour when full
//
//   - MaxInFlight running dials (metric peermesh_dialer_in_flight): further
//     dials wait in the queue. A cancelled dial keeps its slot until its
//     goroutine returns, so the bound holds for dials really running.
//   - MaxQueued waiting dials (peermesh_dialer_queue_length): further
//     requests are REJECTED, counted in
//     peermesh_dialer_rejections_total{reason="queue_full"}.
//   - MaxWaitersPerDial requesters per dial: further joiners are REJECTED
//     (reason "too_many_waiters").
//   - MaxAddresses per request, MaxDialTimeout per request: REJECTED as
//     invalid ("invalid_request").
//
// Outcomes are counted in waku_peers_dials{outcome} (connected, timeout,
// refused, failed, cancelled, rejected; nwaku's label values were
// "successful" and free-text reasons), connections made in
// waku_node_conns_initiated{source}, requests in
// peermesh_dialer_requests_total{source}, durations of dials that ran in
// peermesh_dialer_dial_duration_seconds{outcome}.
//
// # Threading
//
// The core (Pool) is a plain state machine: time comes in as an argument,
// effects go out as data; it has no goroutines, clock or I/O. The actor owns
// it and runs each admitted dial on its own goroutine, which reports back to
// the actor with a DialFinished message; the goroutine never touches the
// actor's state. One actor rather than a router pool, because routees cannot
// share one FIFO or one dedupe set. Stopping (or restarting) the actor
// cancels every dial and answers every waiter CANCELLED. Stop it before
// shutting its actor system down: protoactor's ActorSystem.Shutdown does not
// stop actors, so running dials would only end at their timeout.
package dialer
