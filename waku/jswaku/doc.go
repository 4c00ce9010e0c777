// Package jswaku holds peermesh's interop test against js-waku: a js-waku
// relay node (@waku/sdk 0.0.27 createRelayNode, with TCP and yamux added;
// testdata/interop/jswaku, npm-pinned) and a peermesh node on cluster 1
// with autosharding, on loopback. The test installs the npm packages itself
// (internal/interop.EnsureInstalled) and needs Node.js ≥ 20.
//
// It checks what a Waku operator relies on: the metadata exchange
// succeeds both ways, each side keeps the other in its relay mesh — still
// after 90 s without traffic (the waku score parameters are nwaku's) —
// messages flow both ways and js-waku's decoder reads ours, the hash the
// REST publish answer names equals @waku/message-hash's, and a js-waku node
// of another cluster is disconnected. js-waku's unmodified default node
// (WebSocket and mplex only) is run too.
package jswaku
