// Package actorkit holds the few pieces every peermesh actor shares: the
// protobuf-only sender middleware and the Props helper that installs it.
//
// It exists so that DESIGN.md principle 1 ("actors talk only through protobuf
// messages") is enforced by code rather than by review: every actor built
// with [Props] checks each message it sends. In production a violation is
// logged and counted; under the actortest probe it fails the test.
package actorkit
