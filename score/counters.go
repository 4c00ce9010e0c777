package score

import (
	"math"
	"time"
)

// TopicCounters are one peer's P1–P4 counters in one topic. The topic's mesh
// actor owns and updates them; the router receives copies to aggregate.
// The zero value is a peer that was never in the mesh and never delivered.
type TopicCounters struct {
	// InMesh is true between Graft and Prune.
	InMesh bool
	// GraftTime is when the peer last entered the mesh.
	GraftTime time.Time
	// MeshTime is the time in mesh, refreshed by Refresh (P1).
	MeshTime time.Duration
	// FirstMessageDeliveries counts first valid deliveries (P2).
	FirstMessageDeliveries float64
	// MeshMessageDeliveries counts first and near-first deliveries while in mesh (P3).
	MeshMessageDeliveries float64
	// MeshMessageDeliveriesActive is set once the peer has been in the mesh for the activation window.
	MeshMessageDeliveriesActive bool
	// MeshFailurePenalty accumulates deficit² at prune time (P3b).
	MeshFailurePenalty float64
	// InvalidMessageDeliveries counts rejected messages (P4).
	InvalidMessageDeliveries float64
}

// Graft records that the peer entered the mesh (seed: grafted): P1 restarts
// and the P3 deficit is inactive until the activation window has passed.
func (c *TopicCounters) Graft(now time.Time) {
	c.InMesh = true
	c.GraftTime = now
	c.MeshTime = 0
	c.MeshMessageDeliveriesActive = false
}

// Prune records that the peer left the mesh (seed: pruned). If the P3
// deficit was active, deficit² becomes the sticky P3b penalty.
func (c *TopicCounters) Prune(p TopicParams) {
	if c.InMesh {
		d := c.deficit(&p)
		c.MeshFailurePenalty += d * d
	}
	c.InMesh = false
	c.MeshMessageDeliveriesActive = false
}

// deficit is how far the P3 mesh deliveries fall short of the threshold
// once the activation window has passed; 0 before it or at the threshold.
func (c *TopicCounters) deficit(p *TopicParams) float64 {
	if !c.MeshMessageDeliveriesActive || c.MeshMessageDeliveries >= p.MeshMessageDeliveriesThreshold {
		return 0
	}
	return p.MeshMessageDeliveriesThreshold - c.MeshMessageDeliveries
}

// Refresh updates the time in mesh and activates P3 after the activation
// window. A now before the graft (a clock-domain mix, which ADR 0012 rules
// out) counts as no time in the mesh, never as a negative P1.
func (c *TopicCounters) Refresh(now time.Time, p TopicParams) {
	if !c.InMesh {
		return
	}
	c.MeshTime = max(now.Sub(c.GraftTime), 0)
	if c.MeshTime > p.MeshMessageDeliveriesActivation {
		c.MeshMessageDeliveriesActive = true
	}
}

// FirstDelivery records the peer as the first to deliver a valid message:
// P2 always, P3 too while the peer is in the mesh.
func (c *TopicCounters) FirstDelivery(p TopicParams) {
	c.FirstMessageDeliveries = math.Min(c.FirstMessageDeliveries+1, p.FirstMessageDeliveriesCap)
	c.MeshDelivery(p)
}

// MeshDelivery credits P3 for a first or near-first delivery (the caller
// checks the window); it does nothing outside the mesh.
func (c *TopicCounters) MeshDelivery(p TopicParams) {
	if c.InMesh {
		c.MeshMessageDeliveries = math.Min(c.MeshMessageDeliveries+1, p.MeshMessageDeliveriesCap)
	}
}

// Invalid records a rejected message (P4).
func (c *TopicCounters) Invalid() { c.InvalidMessageDeliveries++ }

// Decay multiplies each decaying counter by its factor and snaps values
// below decayToZero to 0. Call it once per decay interval.
func (c *TopicCounters) Decay(p TopicParams, decayToZero float64) {
	c.FirstMessageDeliveries = decayed(c.FirstMessageDeliveries, p.FirstMessageDeliveriesDecay, decayToZero)
	c.MeshMessageDeliveries = decayed(c.MeshMessageDeliveries, p.MeshMessageDeliveriesDecay, decayToZero)
	c.MeshFailurePenalty = decayed(c.MeshFailurePenalty, p.MeshFailurePenaltyDecay, decayToZero)
	c.InvalidMessageDeliveries = decayed(c.InvalidMessageDeliveries, p.InvalidMessageDeliveriesDecay, decayToZero)
}

// Idle reports whether the counters carry nothing: the peer can be forgotten
// without changing its score.
func (c *TopicCounters) Idle() bool {
	return !c.InMesh && c.FirstMessageDeliveries == 0 && c.MeshMessageDeliveries == 0 &&
		c.MeshFailurePenalty == 0 && c.InvalidMessageDeliveries == 0
}

func decayed(v, factor, toZero float64) float64 {
	v *= factor
	if v < toZero {
		return 0
	}
	return v
}

// PeerCounters are the whole-peer inputs P5–P7. The router owns them.
type PeerCounters struct {
	// AppSpecific is the application's score for the peer (P5).
	AppSpecific float64
	// BehaviourPenalty accumulates protocol misbehaviour (P7): GRAFT in
	// backoff, broken IWANT promises, GRAFT from a direct peer.
	BehaviourPenalty float64
}

// AddPenalty adds to the behaviour penalty (P7).
func (c *PeerCounters) AddPenalty(v float64) { c.BehaviourPenalty += v }

// Decay decays the behaviour penalty; call once per decay interval.
func (c *PeerCounters) Decay(p Params) {
	c.BehaviourPenalty = decayed(c.BehaviourPenalty, p.BehaviourPenaltyDecay, p.DecayToZero)
}
