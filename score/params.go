package score

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// TopicParams weighs and bounds the per-topic components P1–P4 for one topic.
type TopicParams struct {
	// TopicWeight multiplies the topic's sum before it is added to the score; ≥ 0.
	TopicWeight float64

	// P1: time in mesh, counted in quanta and capped. Weight ≥ 0.
	TimeInMeshWeight  float64
	TimeInMeshQuantum time.Duration
	TimeInMeshCap     float64

	// P2: first message deliveries, capped when incremented and decayed. Weight ≥ 0.
	FirstMessageDeliveriesWeight float64
	FirstMessageDeliveriesDecay  float64
	FirstMessageDeliveriesCap    float64

	// P3: mesh message delivery deficit. Weight ≤ 0. A delivery counts when it
	// is the first or arrives within Window of the first; the deficit is only
	// charged once the peer has been in the mesh for Activation, so a freshly
	// grafted peer is not punished for messages it could not have seen.
	MeshMessageDeliveriesWeight     float64
	MeshMessageDeliveriesDecay      float64
	MeshMessageDeliveriesCap        float64
	MeshMessageDeliveriesThreshold  float64
	MeshMessageDeliveriesWindow     time.Duration
	MeshMessageDeliveriesActivation time.Duration

	// P3b: sticky penalty added on prune while the P3 deficit was active. Weight ≤ 0.
	MeshFailurePenaltyWeight float64
	MeshFailurePenaltyDecay  float64

	// P4: invalid messages, squared. Weight ≤ 0.
	InvalidMessageDeliveriesWeight float64
	InvalidMessageDeliveriesDecay  float64
}

// Params holds the whole-peer parameters (P5–P7, caps, decay) and the
// per-topic parameters. A topic absent from Topics contributes nothing.
type Params struct {
	// Topics maps a topic name to its parameters.
	Topics map[string]TopicParams
	// TopicScoreCap caps the positive sum of topic contributions; 0 means no cap.
	TopicScoreCap float64

	// AppSpecificWeight multiplies the application score P5; ≥ 0.
	AppSpecificWeight float64

	// IPColocationFactorWeight (≤ 0) multiplies P6 = (peers on the IP − threshold)²
	// for each of the peer's IPs shared by more than IPColocationFactorThreshold peers.
	IPColocationFactorWeight    float64
	IPColocationFactorThreshold int
	// IPColocationFactorWhitelist lists prefixes exempt from P6 (e.g. a private
	// fleet behind one NAT).
	IPColocationFactorWhitelist []netip.Prefix

	// BehaviourPenaltyWeight (≤ 0) multiplies P7 = (penalty − threshold)² when
	// the penalty exceeds BehaviourPenaltyThreshold (≥ 0).
	BehaviourPenaltyWeight    float64
	BehaviourPenaltyThreshold float64
	BehaviourPenaltyDecay     float64

	// DecayInterval is how often counters decay; DecayToZero snaps a decayed
	// counter below it to 0 so idle peers do not keep tiny residues forever.
	DecayInterval time.Duration
	DecayToZero   float64
	// RetainScore keeps the counters of a disconnected peer so a reconnect
	// does not wash a penalty away (nim-libp2p#402).
	RetainScore time.Duration
}

// Thresholds are the score levels the router and the mesh act on. The spec
// requires Graylist < Publish ≤ Gossip < 0 ≤ AcceptPX, 0 ≤ OpportunisticGraft.
type Thresholds struct {
	// Gossip: below it, no gossip is emitted to or accepted from the peer.
	Gossip float64
	// Publish: below it, our own messages are not flood-published to the peer.
	Publish float64
	// Graylist: below it, all RPCs from the peer are ignored.
	Graylist float64
	// AcceptPX: PX from a PRUNE is accepted only from peers at or above it.
	AcceptPX float64
	// OpportunisticGraft: when the median mesh score is below it, better peers are grafted.
	OpportunisticGraft float64
}

// DecayFor returns the per-interval decay factor that takes a counter from 1
// to decayToZero in d, given the decay interval: decayToZero^(interval/d).
// It lets parameters be stated as "forget within d".
func DecayFor(d, interval time.Duration, decayToZero float64) float64 {
	if d <= 0 || interval <= 0 {
		return 0
	}
	return math.Pow(decayToZero, float64(interval)/float64(d))
}

// DefaultWakuTopicParams returns nwaku's relay topic parameters
// (waku_relay/protocol.nim TopicParameters; go-waku's are the same): P1
// 0.01 per second in the mesh up to 10, P2 1 with decay 0.5 up to 10, P4
// −100 with decay 0.5, and P3 and P3b switched off. Quiet topics are normal
// in Waku: with P3 on, an honest mesh peer on a topic that carries a message
// every few minutes drifts negative and is pruned (observed against go-waku
// and js-waku peers 11 s after their GRAFT; ADR 0013). The price is the one
// nwaku pays: a mesh member that forwards nothing keeps a non-negative score;
// StrictWakuTopicParams turns P3 and P3b on for deployments that prefer to
// prune silent peers.
func DefaultWakuTopicParams() TopicParams {
	return TopicParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  10,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    0.5,
		FirstMessageDeliveriesCap:      10,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  0.5,
	}
}

// StrictWakuTopicParams returns DefaultWakuTopicParams with P3 and P3b on
// (peermesh's waku defaults before ADR 0013, kept as an option). With the
// waku decay interval of 12 s a peer that forwards nothing has
// P3 = −1·(1−0)² = −1 once activated, which outweighs the largest P1
// (0.01·10 = 0.1): its score is negative at the first heartbeat after
// MeshMessageDeliveriesActivation.
//
// The price: an honest mesh peer stays non-negative only while its P3
// counter is at least 1 − √0.1 ≈ 0.68, i.e. while it is first (or within the
// 10 ms window) for a message about every two minutes (decay 0.97 per 12 s).
// On quieter topics honest peers drift negative, are pruned and replaced
// (mesh churn, not loss) — and Waku peers that do not run these parameters
// see us prune them.
func StrictWakuTopicParams() TopicParams {
	p := DefaultWakuTopicParams()
	p.MeshMessageDeliveriesWeight = -1
	p.MeshMessageDeliveriesDecay = 0.97
	p.MeshMessageDeliveriesCap = 10
	p.MeshMessageDeliveriesThreshold = 1
	p.MeshMessageDeliveriesWindow = 10 * time.Millisecond
	p.MeshMessageDeliveriesActivation = 10 * time.Second
	p.MeshFailurePenaltyWeight = -1
	p.MeshFailurePenaltyDecay = 0.97
	return p
}

// DefaultLibp2pTopicParams returns rust-libp2p's and js-libp2p's topic
// defaults with P1 and P3 rescaled, because theirs let a silent mesh peer
// keep a positive score (CVE-2022-47547, GHSA-77r2-q4c3-v635): P1 with a
// 1 ms quantum saturates at +3600 after 3.6 s in the mesh, against at most
// −400 from P3.
//
// Here P1 counts seconds (weight 0.0027, cap 3600: at most +9.72, after an
// hour, as in the PL gossipsub evaluation) and a silent mesh peer pays
// P3 = −2·(3 − 0)² = −18 once MeshMessageDeliveriesActivation (30 s) has
// passed: negative at the first heartbeat after activation, whatever its
// time in the mesh. With the libp2p decay interval of 1 s and decay 0.97 the
// P3 counter of a peer settles at about 33 times its rate of mesh deliveries
// (first, or within the 10 ms window) per second.
//
// The price: a silent peer holds its mesh slot for the 30 s of activation
// (long enough for an honest peer that is first with one message in two
// seconds to be well above the threshold by then), and an honest mesh peer
// stays non-negative only while it makes about one mesh delivery every 11 s
// (counter ≥ 3, less by √((P1+P2)/2)); on quieter topics honest peers drift
// negative, are pruned and replaced (mesh churn, not loss). Lower
// MeshMessageDeliveriesThreshold or the weight for such topics, keeping
// |w3|·T² above TimeInMeshWeight·TimeInMeshCap.
// MeshFailurePenaltyWeight matches the P3 weight, as the spec advises, so a
// peer pruned with a deficit carries it (P3b) after leaving the mesh.
//
// P4 is also stronger than rust's (−1, decay 0.3 per second, under which a
// peer must send 13 invalid messages every second to stay graylisted):
// −10, decay 0.9, so with the topic weight of 0.5 one invalid message costs
// 5 (above the gossip threshold of −10), two cost 20 and four reach the
// graylist threshold of −80; the counter falls by a third in 4 s.
func DefaultLibp2pTopicParams() TopicParams {
	return TopicParams{
		TopicWeight:                     0.5,
		TimeInMeshWeight:                0.0027,
		TimeInMeshQuantum:               time.Second,
		TimeInMeshCap:                   3600,
		FirstMessageDeliveriesWeight:    1,
		FirstMessageDeliveriesDecay:     0.5,
		FirstMessageDeliveriesCap:       2000,
		MeshMessageDeliveriesWeight:     -2,
		MeshMessageDeliveriesDecay:      0.97,
		MeshMessageDeliveriesCap:        30,
		MeshMessageDeliveriesThreshold:  3,
		MeshMessageDeliveriesWindow:     10 * time.Millisecond,
		MeshMessageDeliveriesActivation: 30 * time.Second,
		MeshFailurePenaltyWeight:        -2,
		MeshFailurePenaltyDecay:         0.97,
		InvalidMessageDeliveriesWeight:  -10,
		InvalidMessageDeliveriesDecay:   0.9,
	}
}

// DefaultWakuParams returns nwaku's peer-score parameters (waku_relay/protocol.nim):
// decay every 12 s to 0.01, retain 10 min, P6 −50 above 5 peers per IP, P7 −10
// decaying by 0.986. topics are given DefaultWakuTopicParams.
func DefaultWakuParams(topics ...string) Params {
	p := Params{
		Topics:                      make(map[string]TopicParams, len(topics)),
		AppSpecificWeight:           0,
		IPColocationFactorWeight:    -50,
		IPColocationFactorThreshold: 5,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyDecay:       0.986,
		DecayInterval:               12 * time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
	for _, t := range topics {
		p.Topics[t] = DefaultWakuTopicParams()
	}
	return p
}

// DefaultLibp2pParams returns rust-libp2p's defaults (also js-libp2p's).
func DefaultLibp2pParams(topics ...string) Params {
	p := Params{
		Topics:                      make(map[string]TopicParams, len(topics)),
		TopicScoreCap:               3600,
		AppSpecificWeight:           10,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyDecay:       0.2,
		DecayInterval:               time.Second,
		DecayToZero:                 0.1,
		RetainScore:                 time.Hour,
	}
	for _, t := range topics {
		p.Topics[t] = DefaultLibp2pTopicParams()
	}
	return p
}

// DefaultWakuThresholds returns nwaku's thresholds.
func DefaultWakuThresholds() Thresholds {
	return Thresholds{Gossip: -100, Publish: -1000, Graylist: -10000, AcceptPX: 0, OpportunisticGraft: 0}
}

// DefaultLibp2pThresholds returns rust-libp2p's and js-libp2p's thresholds,
// except OpportunisticGraft: with DefaultLibp2pTopicParams a topic adds at
// most 0.5·(9.72 + P2), so rust's 20 would be above every honest median and
// opportunistic grafting would run at every chance; 2 is a mesh whose median
// peer has been first with about two messages a second. AcceptPX stays 10:
// P1 no longer lifts every peer past it, so PX is taken from peers the
// application vouches for (P5 weight 10) or from very productive ones.
func DefaultLibp2pThresholds() Thresholds {
	return Thresholds{Gossip: -10, Publish: -50, Graylist: -80, AcceptPX: 10, OpportunisticGraft: 2}
}

// Validate checks the topic parameters; errors name the parameter.
func (p TopicParams) Validate() error {
	var errs []error
	bad := func(name, why string, v any) { errs = append(errs, fmt.Errorf("%s = %v: %s", name, v, why)) }
	nonNeg := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			bad(name, "must be a finite value ≥ 0", v)
		}
	}
	nonPos := func(name string, v float64) {
		if !(v <= 0) || math.IsInf(v, 0) {
			bad(name, "must be a finite value ≤ 0 (a penalty)", v)
		}
	}
	decay := func(name string, v float64) {
		if !(v > 0 && v < 1) {
			bad(name, "must be in (0, 1)", v)
		}
	}
	nonNeg("TopicWeight", p.TopicWeight)
	nonNeg("TimeInMeshWeight", p.TimeInMeshWeight)
	if p.TimeInMeshWeight != 0 {
		if p.TimeInMeshQuantum <= 0 {
			bad("TimeInMeshQuantum", "must be > 0", p.TimeInMeshQuantum)
		}
		if !(p.TimeInMeshCap > 0) {
			bad("TimeInMeshCap", "must be > 0", p.TimeInMeshCap)
		}
	}
	nonNeg("FirstMessageDeliveriesWeight", p.FirstMessageDeliveriesWeight)
	if p.FirstMessageDeliveriesWeight != 0 {
		decay("FirstMessageDeliveriesDecay", p.FirstMessageDeliveriesDecay)
		if !(p.FirstMessageDeliveriesCap > 0) {
			bad("FirstMessageDeliveriesCap", "must be > 0", p.FirstMessageDeliveriesCap)
		}
	}
	nonPos("MeshMessageDeliveriesWeight", p.MeshMessageDeliveriesWeight)
	if p.MeshMessageDeliveriesWeight != 0 {
		decay("MeshMessageDeliveriesDecay", p.MeshMessageDeliveriesDecay)
		if !(p.MeshMessageDeliveriesThreshold > 0) {
			bad("MeshMessageDeliveriesThreshold", "must be > 0", p.MeshMessageDeliveriesThreshold)
		}
		if !(p.MeshMessageDeliveriesCap >= p.MeshMessageDeliveriesThreshold) {
			bad("MeshMessageDeliveriesCap", "must be ≥ MeshMessageDeliveriesThreshold", p.MeshMessageDeliveriesCap)
		}
		if p.MeshMessageDeliveriesWindow < 0 {
			bad("MeshMessageDeliveriesWindow", "must be ≥ 0", p.MeshMessageDeliveriesWindow)
		}
		if p.MeshMessageDeliveriesActivation < time.Second {
			bad("MeshMessageDeliveriesActivation", "must be ≥ 1s", p.MeshMessageDeliveriesActivation)
		}
	}
	nonPos("MeshFailurePenaltyWeight", p.MeshFailurePenaltyWeight)
	if p.MeshFailurePenaltyWeight != 0 {
		decay("MeshFailurePenaltyDecay", p.MeshFailurePenaltyDecay)
	}
	nonPos("InvalidMessageDeliveriesWeight", p.InvalidMessageDeliveriesWeight)
	if p.InvalidMessageDeliveriesWeight != 0 {
		decay("InvalidMessageDeliveriesDecay", p.InvalidMessageDeliveriesDecay)
	}
	return errors.Join(errs...)
}

// Validate checks the parameters and every topic's; errors name the parameter.
func (p Params) Validate() error {
	var errs []error
	bad := func(name, why string, v any) { errs = append(errs, fmt.Errorf("%s = %v: %s", name, v, why)) }
	for t, tp := range p.Topics {
		if err := tp.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("Topics[%q]: %w", t, err))
		}
	}
	if !(p.TopicScoreCap >= 0) {
		bad("TopicScoreCap", "must be ≥ 0 (0 = no cap)", p.TopicScoreCap)
	}
	if !(p.AppSpecificWeight >= 0) {
		bad("AppSpecificWeight", "must be ≥ 0", p.AppSpecificWeight)
	}
	if !(p.IPColocationFactorWeight <= 0) {
		bad("IPColocationFactorWeight", "must be ≤ 0 (a penalty)", p.IPColocationFactorWeight)
	}
	if p.IPColocationFactorWeight != 0 && p.IPColocationFactorThreshold < 1 {
		bad("IPColocationFactorThreshold", "must be ≥ 1", p.IPColocationFactorThreshold)
	}
	if !(p.BehaviourPenaltyWeight <= 0) {
		bad("BehaviourPenaltyWeight", "must be ≤ 0 (a penalty)", p.BehaviourPenaltyWeight)
	}
	if p.BehaviourPenaltyWeight != 0 && !(p.BehaviourPenaltyDecay > 0 && p.BehaviourPenaltyDecay < 1) {
		bad("BehaviourPenaltyDecay", "must be in (0, 1)", p.BehaviourPenaltyDecay)
	}
	if !(p.BehaviourPenaltyThreshold >= 0) {
		bad("BehaviourPenaltyThreshold", "must be ≥ 0", p.BehaviourPenaltyThreshold)
	}
	if p.DecayInterval < time.Second {
		bad("DecayInterval", "must be ≥ 1s", p.DecayInterval)
	}
	if !(p.DecayToZero > 0 && p.DecayToZero < 1) {
		bad("DecayToZero", "must be in (0, 1)", p.DecayToZero)
	}
	if p.RetainScore < 0 {
		bad("RetainScore", "must be ≥ 0", p.RetainScore)
	}
	return errors.Join(errs...)
}

// Validate checks the spec's ordering of the thresholds; errors name the threshold.
func (t Thresholds) Validate() error {
	var errs []error
	bad := func(name, why string, v float64) { errs = append(errs, fmt.Errorf("%s = %v: %s", name, v, why)) }
	if !(t.Gossip <= 0) {
		bad("Gossip", "must be ≤ 0", t.Gossip)
	}
	if !(t.Publish <= t.Gossip) {
		bad("Publish", "must be ≤ Gossip", t.Publish)
	}
	if !(t.Graylist < t.Publish) {
		bad("Graylist", "must be < Publish", t.Graylist)
	}
	if !(t.AcceptPX >= 0) {
		bad("AcceptPX", "must be ≥ 0", t.AcceptPX)
	}
	if !(t.OpportunisticGraft >= 0) {
		bad("OpportunisticGraft", "must be ≥ 0", t.OpportunisticGraft)
	}
	return errors.Join(errs...)
}
