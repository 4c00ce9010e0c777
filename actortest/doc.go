// Package actortest is the test probe for peermesh actors, exported so that
// embedders test their own actors against a peermesh node the same way.
//
// It follows the shape of Akka's TestProbe and goakt's testkit:
//
//	sys := actortest.NewSystem(t)          // logs into t, shut down at cleanup
//	p := actortest.NewProbe(t, sys)
//	p.Request(pid, &heartbeatv1.Register{...}) // replies come to the probe
//	tick := actortest.Expect[*heartbeatv1.Tick](p)
//	p.ExpectNoMessage(time.Second)
//
// A system made by NewSystem fails the test when any actor built with the
// peermesh props sends a message that is not a protobuf message.
//
// Every wait is bounded (DefaultTimeout unless a duration is given) and uses
// the time package, so inside a testing/synctest bubble timeouts cost no wall
// time and ExpectNoMessage is exact: virtual time only advances once every
// goroutine of the bubble, including the actors under test, is blocked.
//
// Probes are safe for use by one test goroutine; the receive side is fed by
// the actor system.
//
// AssertPureCore checks the other half of an actor package, its pure core:
// the named files start no goroutine, read no clock and import nothing that
// does I/O or concurrency.
package actortest
