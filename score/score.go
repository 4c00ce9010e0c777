package score

import (
	"net/netip"
	"slices"
	"strings"
)

// TopicComponents is one topic's weighted contribution, component by component.
type TopicComponents struct {
	Topic string
	// P1..P4 are weighted by their own weights, not yet by TopicWeight.
	P1, P2, P3, P3b, P4 float64
	// Total is TopicWeight·(P1+P2+P3+P3b+P4).
	Total float64
}

// Breakdown explains a score: every component and the total.
type Breakdown struct {
	Topics []TopicComponents
	// TopicSum is Σ Topics[i].Total; TopicCapped is the same after TopicScoreCap.
	TopicSum, TopicCapped float64
	// P5, P6, P7 are weighted.
	P5, P6, P7 float64
	// Total is TopicCapped + P5 + P6 + P7: the peer's score.
	Total float64
}

// Topic returns one topic's components for the counters c.
func Topic(name string, p TopicParams, c *TopicCounters) TopicComponents {
	tc := TopicComponents{Topic: name}
	if c.InMesh && p.TimeInMeshQuantum > 0 {
		p1 := float64(c.MeshTime) / float64(p.TimeInMeshQuantum)
		tc.P1 = p.TimeInMeshWeight * min(p1, p.TimeInMeshCap)
	}
	tc.P2 = p.FirstMessageDeliveriesWeight * c.FirstMessageDeliveries
	if c.MeshMessageDeliveriesActive && c.MeshMessageDeliveries < p.MeshMessageDeliveriesThreshold {
		d := p.MeshMessageDeliveriesThreshold - c.MeshMessageDeliveries
		tc.P3 = p.MeshMessageDeliveriesWeight * d * d
	}
	tc.P3b = p.MeshFailurePenaltyWeight * c.MeshFailurePenalty
	tc.P4 = p.InvalidMessageDeliveriesWeight * c.InvalidMessageDeliveries * c.InvalidMessageDeliveries
	tc.Total = p.TopicWeight * (tc.P1 + tc.P2 + tc.P3 + tc.P3b + tc.P4)
	return tc
}

// Colocation returns P6 for a peer seen at ips, where peersOnIP counts the
// peers currently connected from an address (the router's IP table).
// Whitelisted addresses are exempt. The value is unweighted.
func Colocation(p *Params, ips []netip.Addr, peersOnIP func(netip.Addr) int) float64 {
	var v float64
	for _, ip := range ips {
		if whitelisted(p.IPColocationFactorWhitelist, ip) {
			continue
		}
		if n := peersOnIP(ip); n > p.IPColocationFactorThreshold {
			s := float64(n - p.IPColocationFactorThreshold)
			v += s * s
		}
	}
	return v
}

func whitelisted(list []netip.Prefix, ip netip.Addr) bool {
	for _, pr := range list {
		if pr.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// Score aggregates a peer's score from its per-topic counters (reported by
// the topic actors), its whole-peer counters and P6 (from Colocation, unweighted).
// It does not allocate.
func Score(p *Params, topics map[string]TopicCounters, pc PeerCounters, p6 float64) float64 {
	var sum float64
	forTopics(p, topics, func(tc TopicComponents) { sum += tc.Total })
	return capTopics(p, sum) + peerTerms(p, pc, p6)
}

// forTopics calls fn with the components of every topic that has parameters;
// topics without parameters contribute nothing.
func forTopics(p *Params, topics map[string]TopicCounters, fn func(TopicComponents)) {
	for name, c := range topics {
		if tp, ok := p.Topics[name]; ok {
			fn(Topic(name, tp, &c))
		}
	}
}

// Explain returns the same score as Score with every component, topics sorted by name.
func Explain(p *Params, topics map[string]TopicCounters, pc PeerCounters, p6 float64) Breakdown {
	var b Breakdown
	forTopics(p, topics, func(tc TopicComponents) {
		b.Topics = append(b.Topics, tc)
		b.TopicSum += tc.Total
	})
	slices.SortFunc(b.Topics, func(a, c TopicComponents) int { return strings.Compare(a.Topic, c.Topic) })
	b.TopicCapped = capTopics(p, b.TopicSum)
	b.P5 = p.AppSpecificWeight * pc.AppSpecific
	b.P6 = p.IPColocationFactorWeight * p6
	b.P7 = behaviour(p, pc)
	b.Total = b.TopicCapped + b.P5 + b.P6 + b.P7
	return b
}

func capTopics(p *Params, sum float64) float64 {
	if p.TopicScoreCap > 0 && sum > p.TopicScoreCap {
		return p.TopicScoreCap
	}
	return sum
}

func peerTerms(p *Params, pc PeerCounters, p6 float64) float64 {
	return p.AppSpecificWeight*pc.AppSpecific + p.IPColocationFactorWeight*p6 + behaviour(p, pc)
}

func behaviour(p *Params, pc PeerCounters) float64 {
	if pc.BehaviourPenalty <= p.BehaviourPenaltyThreshold {
		return 0
	}
	x := pc.BehaviourPenalty - p.BehaviourPenaltyThreshold
	return p.BehaviourPenaltyWeight * x * x
}
