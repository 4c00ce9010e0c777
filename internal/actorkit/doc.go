// Package actorkit holds the few pieces every peermesh actor shares: requests
// with a timeout that cannot race (Request, Ask; ADR 0028), the
// protobuf-only check and the Props helper that installs it, mailbox depth
// metrics, and the registration helper for actor metrics.
//
// It exists so that DESIGN.md principle 1 ("actors talk only through protobuf
// messages") is enforced by code rather than by review: every actor built
// with [Props] checks each message it sends ([ProtoOnly]) and each message it
// receives ([ProtoOnlyReceiver]; that half catches what an actor's own I/O
// goroutines and timers send it through the root context, which no sender
// middleware sees). In production a violation is logged and counted; under
// the actortest probe it fails the test.
//
// [Register] adds a collector to an injected registry, sharing an equal one
// already there, and returns failures for the actor to log: a metric never
// stops an actor.
package actorkit
