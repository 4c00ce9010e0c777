package mesh

import (
	"errors"
	"fmt"
	"time"
)

// Publish admission (ADR 0030): a topic actor accepts a new publish of its
// own node only while the node's forwarding path keeps up. The signal is
// its sessions' outbound queues: each session reports, edge-triggered, when
// the oldest forward or own publish queued for its peer has waited longer
// than session.Config.CongestedAge (or forwards expired), and when it is
// healthy again. The topic counts the congested peers of its mesh and is
// congested while at least Quorum of the mesh, and at least MinPeers peers,
// are: one slow or stuck peer (whose queue alone is old) cannot hold the
// node's publishes. While congested a publish is held in a bounded FIFO in
// front of the core; it is admitted when the topic is healthy again or
// after MaxHold at the latest, and refused (counted, the caller gets
// ErrAdmissionFull) when MaxHeld publishes are already held.

// AdmissionConfig bounds publish admission. Quorum 0 turns it off: every
// publish is admitted at once, as before ADR 0030.
type AdmissionConfig struct {
	// Quorum is the share of the mesh whose sessions must report
	// congestion for the topic to hold publishes; MinPeers the fewest
	// congested peers that can (so that one stuck peer in a small mesh
	// cannot).
	Quorum   float64
	MinPeers int
	// MaxHold: a held publish is admitted at the latest after this long,
	// congested or not, so a node that stays congested still publishes
	// (late, and at most MaxHeld per MaxHold).
	MaxHold time.Duration
	// MaxHeld bounds the publishes held at once; a publish arriving when
	// it is reached is refused with ErrAdmissionFull and counted
	// (libp2p_gossipsub_publish_admission_total{outcome="refused"}).
	MaxHeld int
}

// DefaultAdmission is the admission every topic actor runs unless
// configured otherwise (the figures behind it: ADR 0030).
func DefaultAdmission() AdmissionConfig {
	return AdmissionConfig{Quorum: 0.5, MinPeers: 2, MaxHold: time.Second, MaxHeld: 256}
}

// ErrAdmissionFull answers a publish that arrived while MaxHeld publishes
// were held: the node is congested and its admission queue is full.
var ErrAdmissionFull = errors.New("publish refused: node congested and its admission queue is full")

func (c AdmissionConfig) validate() error {
	if c.Quorum == 0 {
		return nil
	}
	switch {
	case c.Quorum < 0 || c.Quorum > 1:
		return fmt.Errorf("Admission.Quorum = %v: must be in [0, 1]", c.Quorum)
	case c.MinPeers < 1:
		return fmt.Errorf("Admission.MinPeers = %d: must be ≥ 1", c.MinPeers)
	case c.MaxHold <= 0:
		return fmt.Errorf("Admission.MaxHold = %s: must be positive", c.MaxHold)
	case c.MaxHeld <= 0:
		return fmt.Errorf("Admission.MaxHeld = %d: must be positive", c.MaxHeld)
	}
	return nil
}

// AdmissionDecision is what Offer decided about a publish.
type AdmissionDecision int

const (
	// Admit: publish it now.
	Admit AdmissionDecision = iota
	// Hold: it waits in the admission queue; Release hands it out later.
	Hold
	// Refuse: the queue is full; answer the caller with ErrAdmissionFull.
	Refuse
)

func (d AdmissionDecision) String() string {
	switch d {
	case Admit:
		return "admit"
	case Hold:
		return "hold"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("AdmissionDecision(%d)", int(d))
}

// AdmissionStats counts what admission did (cumulative, except Holding and
// Congested).
type AdmissionStats struct {
	Admitted      uint64 // admitted at once
	Held          uint64 // held on arrival
	Refused       uint64 // refused: the queue was full
	ReleasedEarly uint64 // held, then admitted because the node was healthy again
	ReleasedLate  uint64 // held, then admitted because it had waited MaxHold
	Episodes      uint64 // times the node turned congested
	Holding       int    // held now
	Congested     bool   // congested now
}

// Admission is the pure admission state of one topic actor; T is what the
// actor holds per publish (the request and whom to answer). Times are the
// local-I/O clock's (the session's queue ages are measured on it too),
// never the heartbeat's.
type Admission[T any] struct {
	cfg       AdmissionConfig
	congested bool
	held      []heldPublish[T]
	stats     AdmissionStats
}

type heldPublish[T any] struct {
	at   time.Time
	item T
}

// NewAdmission returns the admission state for cfg (validated by Config).
func NewAdmission[T any](cfg AdmissionConfig) *Admission[T] {
	return &Admission[T]{cfg: cfg}
}

// Enabled reports whether admission can ever hold a publish.
func (a *Admission[T]) Enabled() bool { return a.cfg.Quorum > 0 }

// Stats returns the counters and current state.
func (a *Admission[T]) Stats() AdmissionStats {
	s := a.stats
	s.Holding, s.Congested = len(a.held), a.congested
	return s
}

// Signal sets the state from the mesh: congested of its mesh peers report
// a congested outbound queue. Congested needs at least MinPeers of them and
// at least Quorum of the mesh.
func (a *Admission[T]) Signal(congested, mesh int) {
	if !a.Enabled() {
		return
	}
	on := congested >= a.cfg.MinPeers && float64(congested) >= a.cfg.Quorum*float64(mesh)
	if on && !a.congested {
		a.stats.Episodes++
	}
	a.congested = on
}

// Offer decides about a new publish arriving at now. Held publishes keep
// their order: a new one is admitted at once only when none is held.
func (a *Admission[T]) Offer(now time.Time, item T) AdmissionDecision {
	if !a.Enabled() {
		a.stats.Admitted++
		return Admit
	}
	switch {
	case !a.congested && len(a.held) == 0:
		a.stats.Admitted++
		return Admit
	case len(a.held) >= a.cfg.MaxHeld:
		a.stats.Refused++
		return Refuse
	}
	a.held = append(a.held, heldPublish[T]{at: now, item: item})
	a.stats.Held++
	return Hold
}

// Release appends to out the held publishes admitted at now, oldest first:
// all of them when the node is healthy, else those that waited MaxHold.
func (a *Admission[T]) Release(now time.Time, out []T) []T {
	if len(a.held) == 0 {
		return out
	}
	n := 0
	for _, h := range a.held {
		if !a.congested {
			a.stats.ReleasedEarly++
		} else if now.Sub(h.at) >= a.cfg.MaxHold {
			a.stats.ReleasedLate++
		} else {
			break // FIFO: the ones after it were held later
		}
		out = append(out, h.item)
		n++
	}
	if n > 0 {
		clear(a.held[:n]) // drop references to the released items
		a.held = append(a.held[:0], a.held[n:]...)
	}
	return out
}

// Due returns how long after now the oldest held publish reaches MaxHold
// (0 if it already has), and false when none is held.
func (a *Admission[T]) Due(now time.Time) (time.Duration, bool) {
	if len(a.held) == 0 {
		return 0, false
	}
	return max(a.held[0].at.Add(a.cfg.MaxHold).Sub(now), 0), true
}

// Drain returns every held publish, oldest first, and forgets them: the
// actor admits them when it stops.
func (a *Admission[T]) Drain(out []T) []T {
	for _, h := range a.held {
		out = append(out, h.item)
	}
	a.stats.ReleasedEarly += uint64(len(a.held))
	clear(a.held)
	a.held = a.held[:0]
	return out
}

// meshSize is the number of mesh peers (admission's quorum is a share of it).
func (t *Topic) meshSize() int { return len(t.mesh) }
