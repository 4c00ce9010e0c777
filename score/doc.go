// Package score implements gossipsub v1.1 peer scoring as pure functions over
// counters (libp2p/specs pubsub/gossipsub/gossipsub-v1.1.md, "The Score Function"):
//
//	Score(p) = TopicCap(Σ_t w_t·(w1·P1 + w2·P2 + w3·P3 + w3b·P3b + w4·P4)) + w5·P5 + w6·P6 + w7·P7
//
// # Who keeps which counter
//
// The counters live where the events happen, so no actor has to ask another
// for state while it handles a message:
//
//   - [TopicCounters] (P1 time in mesh, P2 first deliveries, P3 mesh deliveries,
//     P3b mesh failure penalty, P4 invalid messages) belong to the topic's mesh
//     actor (package actors/mesh), which sees GRAFT, PRUNE, deliveries and
//     validation results for its topic. It decays them with [TopicCounters.Decay]
//     at each decay interval and reports a copy to the router every heartbeat.
//   - [PeerCounters] (P5 application score, the peer's IP addresses for P6, P7
//     behaviour penalty) belong to the router and its peer sessions, which see
//     every RPC of a peer whatever its topic. The router decays P7 with
//     [PeerCounters.Decay].
//
// The router combines both with [Score] (allocation-free) or [Explain] (every
// component, for logs, metrics and the "why is this peer negative" question).
//
// # Parameters
//
// [Params] and [TopicParams] hold weights, caps and decays; [Thresholds] the
// gossip, publish, graylist, accept-PX and opportunistic-graft thresholds.
// Validate returns an error naming the parameter: a positive weight where the
// spec requires a negative one is an error, never silently disabled scoring
// (taikoxyz/taiko-mono#21775). [DefaultWakuParams] ships nwaku's values
// (P3 and P3b off, so honest peers on quiet topics stay non-negative, as in
// every Waku implementation); [StrictWakuTopicParams] turns P3 and P3b on, so
// a mesh peer that forwards nothing turns negative once the P3 activation
// window has passed (CVE-2022-47547, GHSA-77r2-q4c3-v635), as
// [DefaultLibp2pTopicParams] does for the libp2p profile.
//
// Everything here is pure: time enters as arguments, there is no clock, no
// goroutine and no shared state.
package score
