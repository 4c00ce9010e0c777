// Package peermesh embeds a peermesh node — a Waku-style peer manager and a
// gossipsub v1.1/v1.2 mesh over go-libp2p — into a Go program.
//
// A node is an actor. New builds its libp2p host and metrics registry;
// Spawn starts the node's actor tree as a child of any protoactor-go
// context (a caller's own ActorSystem.Root or one of its actors), and Start
// does the same in an ActorSystem of the node's own. The returned PID
// accepts the protobuf messages of messages/api/v1 (Subscribe, Publish,
// AddPeer, GetPeers, GetMesh, GetScores, GetInfo, Watch, Stop), sent with
// Request; each has exactly one answer. Watchers receive PeerConnected,
// PeerDisconnected and MessageReceived events, subscribers MessageReceived.
// A topic validator registers with pubsubv1.RegisterValidator sent to the
// node, which forwards it to the router.
//
// Subscriptions and watchers are state of the node actor: were it to be
// restarted by its supervisor (after a panic), it rejoins the configured
// topics, and subscribers and watchers must subscribe or watch again.
//
// The node actor is a thin supervisor and facade: peer policy lives in the
// peer manager, mesh policy in the router and its topic actors. The Node
// type also offers blocking Go methods over the same messages (used by the
// REST server of cmd/node).
//
// Library code opens no listener other than libp2p's: REST and /metrics
// servers belong to cmd/node. Metrics are registered on Config.Registerer,
// or on a registry the node creates (Node.Gatherer), never on the global
// one.
package peermesh
