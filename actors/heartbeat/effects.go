package heartbeat

import "time"

// Fire is the one effect of Schedule.Due: send Tick{Name, Seq, now} to Target.
// The actor executes the fires in the order Due returns them (earliest due
// first, ties in registration order), so two names of one target interleave
// deterministically.
type Fire struct {
	// Target is the opaque key of the target, as given to Register.
	Target string
	Name   string
	// Seq is the tick number since registration (1 for the first tick). After
	// a stall it jumps: Seq − Missed − 1 is the previous tick's seq.
	Seq uint64
	// Missed is how many ticks were coalesced into this one.
	Missed uint64
	// Due is when the earliest tick this fire stands for was due.
	Due time.Time
	// Lag is how late the fire is against Due: zero for a punctual tick, the
	// length of the stall for a coalesced one.
	Lag time.Duration
}

// RegisterResult is what the actor must do after a successful Register.
type RegisterResult struct {
	// NewTarget is set when the target had no registration before: watch it.
	NewTarget bool
	// Replaced is set when an existing (target, name) schedule was replaced.
	Replaced bool
}

// UnregisterResult is what the actor must do after Unregister.
type UnregisterResult struct {
	// Found tells whether the (target, name) pair was registered.
	Found bool
	// TargetGone is set when the target has no registration left: unwatch it.
	TargetGone bool
}
