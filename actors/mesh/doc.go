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
// # Inputs (seed procs of nim-libp2p gossipsub/behavior.nim in brackets)
//
//   - AddPeer / RemovePeer / SetScore(s): peer subscribed, left, rescored.
//   - Join / Leave: we subscribe or unsubscribe (PRUNE with UnsubscribeBackoff).
//   - HandleGraft [handleGraft], HandlePrune [handlePrune, getPeers],
//     HandleIHave [handleIHave], HandleIWant [handleIWant],
//     HandleIDontWant [handleIDontWant]: control for this topic.
//   - HandleMessage (seen check, IDONTWANT, validation request),
//     HandleValidated (deliver, forward, cache, P2/P3/P4), Publish.
//   - Heartbeat [onHeartbeat]: HandleBackingOff [handleBackingOff], prune
//     negative peers, RebalanceMesh [rebalanceMesh], DropFanoutPeers
//     [dropFanoutPeers], ReplenishFanout [replenishFanout], GetGossipPeers
//     [getGossipPeers], mcache shift, broken IWANT promises, seen expiry,
//     score counter decay.
//   - [grafted]/[pruned] are addToMesh/removeFromMesh + score.TopicCounters
//     Graft/Prune; [peerExchangeList] is PeerExchangeList; [commitMetrics] is Stats.
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
// Every table has a limit in [Config] (MaxPeers, MaxBackoff, MaxSeen,
// MaxCachedMessages, MaxPendingValidations, MaxPromises,
// IDontWantMaxPerHeartbeat, MaxIHaveLength, PrunePeers, MaxDuplicateSources)
// and a counter in [Stats] for what it refused or evicted.
//
// # Threading
//
// A Topic is not safe for concurrent use: the topic actor is its only caller.
package mesh
