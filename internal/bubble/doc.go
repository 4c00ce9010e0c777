// Package bubble runs a test in a testing/synctest bubble the way every test
// of this module must: through [Test], never synctest.Test directly.
//
// Why a wrapper: with the race detector on, go1.26's runtime gives all the
// timers of one bubble a single ThreadSanitizer context (runtime/time.go,
// timer.unlockAndRun: bubble.timers.raceCtx). Two goroutines of the same
// bubble that run expired timer channels at the same moment on two Ps use
// that context from two threads at once, which corrupts ThreadSanitizer's
// state: "CHECK failed: tsan_rtl.cpp:346" or a SIGSEGV in
// runtime.(*timer).maybeRunChan (golang/go#78156). go-libp2p's mocknet
// streams select on a timer channel per write, so our bubbles hit it within
// minutes. Under -race, [Test] therefore runs the bubble on one P
// (GOMAXPROCS 1): the race detector still sees every happens-before edge (it
// does not depend on parallel execution), and the shared context is never
// used by two threads. Without -race nothing changes. ADR 0022 records the
// decision and when to drop it.
package bubble
