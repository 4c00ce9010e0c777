// Package mesh is the gossipsub topic actor: one per topic we join or publish
// to. This file set is its pure core, [Topic]; the actor adapter (actor.go,
// deps.go, metrics.go) feeds it events and executes the [Effects] it returns.
//
// # What a Topic owns
//
// The mesh and its grafted/pruned bookkeeping, the fanout (publishing to a
// topic we have not joined), the backoff table, the message cache (mcache),
// the seen cache, each peer's P1–P4 score counters ([score.TopicCounters]),
// the IWANT promises we are owed, the IDONTWANT ids our topic peers sent and
// the ids we advertised to each peer in IHAVE. The router owns the aggregated
// scores (it calls SetScores before each Heartbeat), P5–P7 (it receives P7
// increments as [Penalty] effects), validation, message ids and signing; the
// peer sessions own per-peer IHAVE budgets (passed to HandleIHave) and the
// outbound queues.
//
// # Inputs
//
//   - AddPeer / RemovePeer / SetScore(s): peer subscribed, left, rescored.
//   - Join / Leave: we subscribe or unsubscribe (PRUNE with UnsubscribeBackoff).
//   - HandleGraft, HandlePrune, HandleIHave, HandleIWant, HandleIDontWant:
//     control for this topic.
//   - HandleMessage (seen check, IDONTWANT, validation request),
//     HandleValidated (deliver, forward, cache, P2/P3/P4), Publish.
//   - Heartbeat: the periodic work, in the seed's order.
//
// # The seed, proc by proc (nim-libp2p gossipsub/behavior.nim)
//
//	grafted            Topic.grafted (+ score.TopicCounters.Graft)
//	pruned             Topic.pruned  (+ score.TopicCounters.Prune: P3b)
//	handleBackingOff   Topic.HandleBackingOff
//	peerExchangeList   Topic.PeerExchangeList
//	handleGraft        Topic.HandleGraft
//	getPeers           getPeers (PX of a PRUNE, passed through as PeerExchange)
//	handlePrune        Topic.HandlePrune
//	handleIHave        Topic.HandleIHave
//	handleIDontWant    Topic.HandleIDontWant
//	handleIWant        Topic.HandleIWant (+ canAskIWant)
//	commitMetrics      Topic.Stats
//	rebalanceMesh      Topic.RebalanceMesh
//	dropFanoutPeers    Topic.DropFanoutPeers
//	replenishFanout    Topic.ReplenishFanout
//	getGossipPeers     Topic.GetGossipPeers
//	onHeartbeat        Topic.Heartbeat (per topic; per-peer budget resets are the session's)
//	heartbeat          the actor adapter's Tick handler
//	hasSeen            Topic.HasSeen
//	mcache.shift       mcache.shift, called by Heartbeat
//
// # Effects
//
// Each input returns *Effects, owned by the Topic and valid until the next
// call (raft's Ready without Advance): execute it in the order documented on
// [Effects] before calling again. No input blocks, allocates goroutines,
// reads a clock or does I/O; randomness comes from the *rand.Rand given to
// [NewTopic], so a seeded test is reproducible.
//
// # Bounds
//
// Every table has a limit in [Config] (MaxPeers, MaxBackoff, MaxSeenBytes,
// MaxCachedMessages, MaxPendingValidations, MaxPromises,
// IDontWantMaxPerHeartbeat, MaxIHaveLength, PrunePeers, MaxDuplicateSources)
// and a counter in [Stats] for what it refused or evicted.
//
// # Threading
//
// A Topic is not safe for concurrent use: the topic actor is its only caller.
package mesh
