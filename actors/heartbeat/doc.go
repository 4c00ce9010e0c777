// Package heartbeat is the clock of a peermesh node: the only component that
// reads the time. Every other actor gets time as a message, a
// heartbeatv1.Tick{name, seq, now}, so their policy code stays deterministic
// and testable with a hand-made Tick.
//
// # Messages
//
// Accepted (messages/heartbeat/v1):
//
//   - Register{name, interval, initial_delay}, as a Request: the sender is the
//     target. Answered with Registered (error empty on success). The first Tick
//     comes initial_delay after registration (zero: at once), then one every
//     interval. Registering the same (target, name) again replaces the schedule
//     and restarts seq at 1. A target may hold several names.
//   - Unregister{name}, as a Request; answered with Unregistered{found}.
//   - GetStats, as a Request; answered with Stats.
//   - Wake, the actor's own timer firing (internal; stale ones are ignored).
//   - *actor.Terminated of a target: all its registrations are dropped.
//
// Emitted: Tick to each target when due.
//
// # Stalls
//
// Ticks are scheduled on a fixed grid (registration time + initial_delay +
// k·interval), so they do not drift. When the actor or the process stalls past
// several grid points, the missed ticks coalesce into one Tick whose seq jumps
// by the gap (missed = seq − previous seq − 1): a burst of stale ticks would
// make every receiver redo the same periodic work several times in a row for
// nothing, exactly when the node is already overloaded. Missed ticks are
// counted and the lateness is observed in a histogram.
//
// # Bounds
//
// Config.MaxRegistrations bounds the schedule (a Register for a new
// (target, name) is rejected with an error in Registered when full;
// replacing an existing one still works), Config.MaxNameLength bounds names
// and Config.MinInterval keeps a tiny interval from turning the actor into a
// busy loop. Each rejection is counted by reason. Requests sent without a
// sender (there is no one to tick or to answer) and message types the actor
// does not handle are dropped and counted.
//
// # Metrics
//
// peermesh_heartbeat_registrations (gauge), _registrations_limit (gauge),
// _ticks_sent_total, _ticks_missed_total (coalesced), _tick_lag_seconds
// (histogram), _registrations_rejected_total{reason},
// _messages_dropped_total{reason}; all on Deps.Registerer.
//
// # Threading
//
// The pure core (Schedule) is a plain struct with no clock, goroutine or I/O;
// the actor owns one. The actor keeps a single timer armed for the earliest due
// time; the timer's goroutine only sends a Wake message to the actor, so all
// state is touched on the actor's mailbox. Registrations live in memory only:
// if the actor is restarted, targets must register again.
package heartbeat
