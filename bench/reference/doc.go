// Command reference runs the meshbench M1 scenario against go-libp2p-pubsub's
// default gossipsub router, with exactly the harness, hosts and topology that
// cmd/meshbench uses for peermesh, so the two can be compared side by side on
// the same machine in the same session.
//
// It is a separate module so that go-libp2p-pubsub never becomes a
// dependency of peermesh itself.
//
//	cd bench/reference && go run . -variant nosign -rates 100,250,500
package main
