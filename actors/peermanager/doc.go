// Package peermanager is nwaku's PeerManager as a peermesh actor: the peer
// books and the connectivity policy (targets, backoff, colocation, pruning,
// service slots, selection), persisted through the storage actor and dialing
// through the dial pool.
//
// # What it owns
//
// The books: one record per peer (addresses, protocols, public key, agent,
// protocol version, connectedness, direction, disconnect time, failed
// attempts, last failure, origin, shards), the service slots, the IP table
// of connected peers, the mesh-protected set, and the dials it asked for.
// Dials in flight and their queue belong to the dial pool; records on disk to
// the storage actor.
//
// # Pure core, thin shell
//
// Manager (manager.go, book.go) is a deterministic state machine: every
// method takes `now` and returns Effects (effects.go) — storage puts and
// deletes, disconnects, dial requests, replies, metric updates and log lines
// — and never blocks, reads the clock, starts goroutines or does I/O. The
// seed's procs map to: protocolMatcher → ProtocolMatcher; calculateBackoff →
// CalculateBackoff; insertOrReplace → Effects.Puts; addPeer → AddPeer;
// connectRelay → connectRelay (a pool dial without protocol); dialPeer →
// DialPeer; loadFromStorage → LoadFromStorage/LoadCompleted; canBeConnected
// → CanBeConnected; getPeerIp/onPeerEvent → OnPeerConnected,
// OnPeerDisconnected, OnIdentifyCompleted (the IP arrives with the event);
// onConnEvent (disabled in the seed) → nothing; new → NewManager
// (Config.Validate); addServicePeer → AddServicePeer; reconnectPeers →
// ReconnectPeers; connectToNodes → ConnectToNodes; connectedPeers →
// ConnectedPeers; getNumStreams → the shell's StreamCounter;
// pruneInRelayConns → PruneInRelayConns; connectToRelayPeers and
// relayConnectivityLoop → ConnectToRelayPeers on each connectivity Tick (and
// Kick); prunePeerStore and its loop → PrunePeerStore on each prune Tick;
// selectPeer → SelectPeer; logAndMetrics → LogAndMetrics; start/stop →
// Start/Stop (called on the actor's Started and Stopping/Restarting).
//
// # Deviations from the seed, and why
//
//   - Waku metadata (PeerMetadata, from the metadata actor, RFC 66) fills a
//     peer's shards and cluster — nwaku's onPeerMetadata. With CheckCluster a
//     peer on another cluster, or one that names none, is disconnected
//     (pruned_total{reason="cluster_mismatch"}); unlike nwaku, which deletes
//     it (so discovery brings it back), its record is kept with its cluster
//     and it is never dialed or selected again. The connectivity round
//     prefers peers serving one of Config.Shards, then peers of unknown
//     shards, then the rest (the seed filters selectPeer by shard only).
//   - Relay candidates are the peers known to speak relay or whose protocols
//     are unknown (peer exchange and static nodes bring none); the seed
//     dials every not-connected peer. A peer dialed for relay whose
//     protocols still lack relay NotRelayGrace (5 s) after identify is
//     disconnected by the next round (peermesh_peermanager_pruned_total{
//     reason="not_relay"}) and, its protocols recorded, never dialed for
//     relay again: a store-only peer would otherwise hold an outbound
//     slot. The grace, and PeerProtocolsUpdated (identify push, from
//     NetEvents), keep a relay peer whose first identify was answered
//     before it registered relay (it had just started). (Issue 10: peers
//     from peer exchange were never dialed because only peers known to
//     speak relay were candidates.) An outbound connection dialed for relay
//     that still has no protocols IdentifyGrace (30 s) after connecting —
//     its identify failed — is closed the same way (reason
//     "identify_timeout"): it counted toward the outbound target and would
//     hold the slot for ever (the seed's identify is part of the upgrade; a
//     connection without it does not exist there).
//   - Static peers (--staticnode) are kept connected: every connectivity
//     round redials those not connected and outside their backoff, whatever
//     the outbound target; their backoff is 10 s · 4^(n−1) capped at 2 min
//     (StaticInitialBackoff, StaticMaxBackoff) and MaxFailedAttempts never
//     excludes them, and one that leaves is redialed at once. The seed
//     dials static nodes once at start: a static node that came up a few
//     seconds late was never connected.
//   - The books stay within PeerStoreCapacity at every insert, not only on
//     the 10-minute prune: a new peer first evicts the lowest-value ones
//     (down to capacity − 1 − capacity/16, so a flood costs one sort per
//     capacity/16 peers). Inbound-only peers seen once (a fresh id that
//     connected to us, never learnt of otherwise) are neither written to
//     disk nor kept under pressure: they are evicted right after the peers
//     at MaxFailedAttempts. Records a load cannot keep are deleted from
//     disk. (3,000 inbound ids grew the books to 3,000 against a capacity
//     of 500, cost 6,000 disk writes, and then refused AddPeer.)
//   - Identify's agent, version and protocols are sanitised at the adapter
//     (NetEvents): invalid UTF-8 is replaced (agent, version) or the
//     protocol dropped, and the core checks again. A peer whose agent was not
//     valid UTF-8 could never be persisted (proto3 strings refuse it).
//   - Failure counts and last-failure times are persisted, so backoff
//     survives a restart, and so is the history: stored peers load with
//     their origin (static, api, px…; CACHE when none was recorded) and
//     connectedness (CannotConnect stays; a peer recorded connected, after
//     a crash, is CanConnect). ReconnectPeers dials the peers loaded in
//     this incarnation. nwaku resets both, so a restart showed every
//     static or failing peer as a NotConnected cache peer. A stored static
//     origin is shown but does not make the peer static: only the
//     operator's ConnectToNodes of this run does, so a node removed from
//     the configuration is not redialed for ever.
//   - GetPeers reports each peer's next dial time — backoff, ReconnectPeers
//     deferral and PrunedBackoff, whichever ends last — (or that it is excluded),
//     and ConnectToNodes (an operator adding the peer again: static nodes,
//     POST /admin/v1/peers) resets its failures: the seed's 5 failures
//     excluded a peer for ever, across restarts, with no way to see it or
//     undo it.
//   - RecordShutdown: in the node's ordered stop (after leaving the topics,
//     before flushing the store and closing the host) every connected peer
//     is recorded disconnected now, so the next start's ReconnectPeers
//     (with the node's backoff, the gossipsub prune backoff + 2 s, as
//     nwaku) does not GRAFT them inside the backoff our PRUNEs announced.
//     Before, the host closed after the actors stopped and those
//     disconnect times were never recorded.
//   - A failed dial is not counted while the node is offline: the dial pool
//     found no route (DIAL_OUTCOME_UNREACHABLE, ENETUNREACH) and the node has
//     no connection at all; the peer is not at fault. A node that is only
//     isolated (no connection, but its dials time out or are refused) counts
//     failures as usual; before, every failure of a node without
//     connections was forgiven, so an isolated node never backed off and
//     redialed the same ten peers forever.
//   - Candidates rotate: the least recently attempted come first (after
//     static peers), so every eligible peer is tried within
//     ⌈candidates/MaxParallelDials⌉ rounds even when failures are not
//     counted or the pool refuses dials. The last tie-break hashes this
//     node's id with the peer's, so nodes that learnt the same peers do not
//     all dial the same ones first (with an unsalted hash the churn soak
//     showed a third of the nodes with full inbound slots and a third with
//     none).
//   - Any connection with a peer, inbound too, clears its failures (the
//     seed clears them on a successful dial only): failures counted across
//     a partition kept healed peers in backoff for an hour in the soak.
//   - A round asks for the gap; while its dials fail or are refused, each
//     further round races twice as many candidates for the same gap (at
//     most MaxParallelDials more), and a success steps back down: among
//     many unreachable candidates (a partition) a node finds the reachable
//     ones within a few dial timeouts instead of one per timeout. The
//     target can then be overshot by at most MaxParallelDials (the seed
//     dials up to MaxParallelDials whatever the gap).
//   - A peer that closes the connection we just made (within
//     QuickDisconnect, 10 s: its inbound or connection limits are full) is
//     treated like a peer our own limit disconnected: not redialed for
//     PrunedBackoff. Such a refusal, and a round's dial that failed, ask
//     for the next round at once while the node is below its target; up to
//     MaxParallelDials such rounds per ConnectivityInterval may run within
//     KickDebounce of another, so a node tries candidate after candidate
//     instead of one per 15 s (the soak's "two rounds" bound).
//   - Peers over the colocation limit are disconnected newest first and
//     their records kept (nwaku deletes them, losing their history).
//   - Static, service-slot and mesh peers are protected from the inbound,
//     colocation, max-connection and store limits; a peer a limit
//     disconnected is not redialed for PrunedBackoff (no ping-pong), and a
//     candidate at an IP whose peers already reach the colocation limit is
//     not dialed at all (unless protected).
//   - Candidates are ranked (static, least recently attempted, fewer
//     failures, known before, oldest failure, id hash) instead of taken in
//     store order; the round counts
//     dials in flight toward the target, so it never overshoots.
//   - A relay peer leaving starts a round at once (debounced), not only the
//     15 s timer; reconnectPeers never sleeps on one peer; connectToNodes has
//     no 5 s sleep.
//   - Small MaxConnections work: below 15 relay peers the outbound target
//     leaves a fifth of them (at least one) to inbound and is at least one,
//     and fewer relay peers than the mesh's Dhi are not refused (nwaku does
//     not build a peer manager then; here a node with 4–10 connections, a
//     phone or a light node, runs a smaller mesh). nwaku's rule left no
//     inbound slot below 13 connections, and peermesh refused every request
//     of a node with 8 or fewer.
//
// # Messages (messages/peermanager/v1 unless named)
//
// Requests (send with Request; exactly one answer each, error set on
// failure): AddPeer → PeerAdded, GetPeers → Peers, ConnectToNodes →
// NodesConnected (after every dial completed), DialPeerRequest →
// DialPeerResponse (after the dial), SelectPeer → PeerSelected,
// AddServicePeer → ServicePeerAdded, ConnectedPeers → ConnectedPeersList,
// GetNumStreams → NumStreams, ReconnectPeers → ReconnectStarted,
// RecordShutdown → ShutdownRecorded, GetStatus → Status.
//
// Events: PeerConnected, PeerDisconnected, IdentifyCompleted,
// PeerProtocolsUpdated (from NetEvents, the go-libp2p adapter in
// netevents.go), MeshPeersChanged (from
// the gossipsub router), heartbeatv1.Tick named TickConnectivity, TickPrune
// or TickLogMetrics, dialerv1.DialCompleted, storagev1.LoadBatch and
// LoadCompleted, ConnectivityKick (its own), actor.DeadLetterResponse (a
// dial pool that is gone: pending dials abandoned and their requesters
// answered; a storage actor that is gone: the load ends).
//
// Emits: dialerv1.DialPeer (as a Request) to Deps.Dialer; storagev1.LoadAll
// at start, Put and Delete to Deps.Storage; heartbeatv1.Register to
// Deps.Heartbeat; the answers above.
//
// # Threading
//
// The actor owns the core and calls it on its mailbox goroutine. Closing a
// peer (Deps.Closer) runs on a goroutine per disconnect, which reports
// nothing: the PeerDisconnected event follows from the adapter. NetEvents
// runs on libp2p's goroutines and one of its own, and only sends messages.
// A restarted actor rebuilds the books from storage and adopts the live
// connections (Deps.Connections); requests waiting on dials when it stops
// or restarts are answered with an error (Stop). Connectivity rounds wait
// for the stored peers, at most LoadTimeout after the start.
//
// # Bounds and behaviour when full
//
// See Config: PeerStoreCapacity (a new peer beyond it evicts the
// lowest-value peers, prunePeerStore's order, before it is inserted; the
// prune tick too), MaxPeerStoreSize (new peers refused, peer_store_full,
// only when nothing is evictable), MaxConnections (inbound
// beyond it disconnected), ColocationLimit, inbound relay target,
// MaxPendingRequests / MaxNodesPerRequest (refused with an error),
// MaxAddresses/Protocols/ShardsPerPeer (truncated, counted), MaxServiceSlots,
// MaxMetricProtocols, MaxMeshPeers, MaxInternedStrings (beyond it strings are
// stored unshared; peermesh_peermanager_interned_strings), LoadTimeout
// (rounds dial without the stored peers). Every refusal answers with an
// error and counts waku_peers_errors{type}.
package peermanager
