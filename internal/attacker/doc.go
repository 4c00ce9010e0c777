// Package attacker is an adversarial gossipsub peer for tests: a go-libp2p
// host that speaks the gossipsub wire format (package wire) but none of its
// rules.
//
// An Attacker opens its own outbound gossipsub stream to a target (with the
// protocol ids it is configured with), accepts the target's inbound stream,
// and sends whatever the test crafts: GRAFT during backoff or for unknown
// topics, GRAFT spam, IHAVE floods beyond the budget, IWANT spam for unknown
// ids, repeated IWANT for one id, messages with invalid signatures or with
// author fields that StrictNoSign forbids, and raw oversized, truncated or
// random frames. The builders in craft.go are pure functions, so a test can
// also inspect exactly what it is about to send.
//
// Everything the target sends back is recorded per target (Record): its
// subscriptions, GRAFTs, PRUNEs with their backoff, messages, IHAVE/IWANT/
// IDONTWANT counts, and whether the target reset the attacker's stream or
// ended its own. WaitFor blocks (bounded by a context) until a recorded
// condition holds, so tests never sleep to wait for the target.
//
// By default an attacker never forwards anything: it is the silent mesh
// member of CVE-2022-47547. With Config.Join it behaves like the "bad boy" of
// the gossipsub v1.1 evaluation: it subscribes to and GRAFTs the given topics
// at every peer it has a stream with, and re-GRAFTs after each PRUNE's backoff
// (plus Config.RegraftDelay), still never forwarding a message. With
// Config.ForwardFor it relays what it receives for a while and then goes
// silent (the evaluation's "covert flash").
//
// Bounds: at most Config.MaxRecorded messages and PRUNEs are kept per target
// (the rest are only counted), and every read uses the wire package's frame
// limit, so a hostile target cannot make the attacker itself grow without
// bound. Goroutines (one reader per inbound stream, one watcher per outbound
// stream, re-GRAFT timers) all end at Close.
package attacker
