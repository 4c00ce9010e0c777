// Package router is the gossipsub router actor: the parent of one session
// actor per pubsub peer ("peer/<id>", package session) and one mesh actor per
// topic joined or published to ("topic/<name>", package mesh).
//
// # What it owns
//
// The peers with a session ([Book]; the topics each announced are an
// observer copy of what the sessions own, kept to seed a restarted session),
// their aggregated scores (P1–P4 reported by topic actors every heartbeat,
// P5, P6 from the peers' connection addresses and P7 kept here), the scores
// of disconnected peers for RetainScore, the backoffs of topics that have no
// actor (kept from TopicRetired, handed to the next actor), the signing key
// and message-id function of the profile, and the host's stream handler and
// notifee (ADR 0012 has the whole table).
//
// # Membership
//
// A topic actor learns which peers are subscribed only from their sessions
// (ADR 0012): the router never sends it PeerSubscriptions or PeerLeft. When
// a topic actor is started (Join, first Publish, respawn) the router tells
// every session (LocalTopics.started) and holds the topic's Joins and
// Publishes until each session has introduced its peer (LocalTopicsSeen) or
// the next Tick.
//
// # Lifetimes and supervision
//
// Leave keeps the topic actor, unjoined; an unjoined actor reports itself
// idle FanoutTTL after its last publish or Leave, and the router retires it.
// Children that fail are stopped (not restarted in place): a session is
// restarted at the next heartbeats, a joined topic actor respawned at once.
//
// # Streams
//
// One long-lived stream per direction per peer. The outbound stream is opened
// and written only by the peer's session (writer goroutine). Inbound streams
// arrive in libp2p's stream-handler goroutine, which asks the router (a
// Request) to make sure the session exists, then reads frames in that same
// goroutine and sends each decoded RPC straight to the session; a second
// inbound stream from the same peer resets the first. No stream object
// crosses an actor boundary.
//
// # Flows
//
//   - Inbound message: reader goroutine (signature policy fields, size,
//     message id; a copy of an id in mesh.KnownIDs goes on without its
//     body, ADR 0027) → session (graylist, budgets) → topic actor (seen; the
//     signature of an unseen id only, so each message is verified once, not
//     once per copy; IDONTWANT, validator actor, deliver, forward) →
//     sessions. The router is not on the data path.
//   - Heartbeat: heartbeatv1.Tick → router: retained scores expired, scores
//     recomputed, one TopicTick (now and the scores) to each topic actor, the Tick
//     to each session (budgets), PeerStatus to sessions whose graylist
//     status changed; idle unjoined topic actors retired from their reports.
//     The Tick's now is the only clock of scores and backoffs.
//   - Direct peers (Config.DirectPeers): every topic core marks them
//     Direct (never grafted, always sent our published and forwarded
//     messages); every DirectConnectTicks heartbeats a disconnected one is
//     redialed with dialerv1.DialPeer to Deps.Dialer; a GRAFT from one is
//     penalised by its topic and logged here as a warning.
//   - API: Join, Leave, Publish, Subscribe, Unsubscribe, RegisterValidator,
//     GetMesh, GetScores (package pubsubv1). Requests about a topic are
//     forwarded to its actor with the caller as sender, so the answer comes
//     from the topic actor directly.
package router
