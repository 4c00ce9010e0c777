// Package session is the per-peer actor of the gossipsub router: one session
// per connected pubsub peer, a child of the router named "peer/<peer id>".
//
// # What it owns
//
//   - The outbound stream, opened and written only by the session's writer
//     goroutine. The first RPC on it carries all local subscriptions.
//   - The outbound [Queue]: bounded in bytes, four priority lanes (control >
//     our own publishes > forwarded data > gossip), lowest priority dropped
//     first when full, every drop counted; forwards and gossip are also
//     bounded in age (Config.MaxForwardAge, MaxGossipAge, measured with
//     Deps.Clock): what waited longer is dropped and counted (ADR 0021). Our
//     own publishes are not (Config.MaxPublishAge, 0 by default): no other
//     node has them yet (ADR 0024). While the writer is busy, queued items accumulate and the
//     next write coalesces them into one RPC frame (up to the peer's frame
//     limit): under load the number of frames, syscalls and Noise/Yamux
//     frames per message falls instead of the queue overflowing.
//   - Per-peer gossip state ([State]): the IHAVE budget per heartbeat, the ids
//     advertised to the peer and in which topic (IWANT is routed back to that
//     topic's actor; IWANT for ids never advertised is not answered), and the
//     peer's IDONTWANT set, which also cancels queued sends of those ids.
//
// # Inbound
//
// Inbound streams are accepted by the router's stream handler, which runs
// [ServeInbound] in libp2p's handler goroutine: frames are read with the
// wire package's limits (oversized length prefix: reset before allocating),
// decoded and sent to the session as InboundRPC messages. Published messages
// are checked (the router's InspectFunc: signature policy, size, id) while
// still views into the frame buffer, and a copy whose id a topic actor has
// already seen (mesh.KnownIDs) travels on as its topic and id only, never
// copied out of the frame (ADR 0027). The session then
// splits each RPC: subscriptions to the topic actors (and an observer copy to
// the router), messages (with the reader's ids, or after Deps.Inspect when
// the reader gave none) and GRAFT/PRUNE/IHAVE to the joined topics'
// actors named "<router>/topic/<t>", IWANT to the actor (joined or not) of
// the topic that advertised the ids, IDONTWANT into its own state. RPCs of a
// graylisted peer are dropped and counted.
//
// # Membership (ADR 0012)
//
// The session owns the fact "the peer announced topic t" and is the only
// path by which a topic actor learns that its peer subscribed, unsubscribed
// or left: it introduces the peer to every topic actor it learns of
// (LocalTopics, Deps.Topics/Tracked) when the peer is subscribed, forwards
// the peer's changes in wire order (so a GRAFT never overtakes its
// SUBSCRIBE), and its last message to each actor it introduced the peer to
// is PeerLeft, sent from Stopping. A session replacing one for a
// still-connected peer starts from the router's copy of its topics
// (Deps.PeerTopics).
//
// # Messages
//
// Accepts: pubsubv1.SendToPeer, LocalTopics, PeerStatus, InboundRPC,
// heartbeatv1.Tick (budgets), and its goroutines' OutboundOpened, WriteDone,
// StreamFailed. Emits to its parent (the router): SessionStarted,
// SessionClosed, PeerSubscriptions (observer copy), LocalTopicsSeen; to
// topic actors: PeerSubscriptions, PeerLeft, ReceivedMessages,
// ReceivedControl, InvalidMessagesReceived.
package session
