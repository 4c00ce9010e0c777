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
	// Weight is the topic's TopicWeight.
	Weight float64
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
	tc := TopicComponents{Topic: name, P1: p1(&p, c), P2: p2(&p, c), P3: p3(&p, c), P3b: p3b(&p, c), P4: p4(&p, c), Weight: p.TopicWeight}
	tc.Total = p.TopicWeight * (tc.P1 + tc.P2 + tc.P3 + tc.P3b + tc.P4)
	return tc
}

// topicTotal is Topic(…).Total without building the components: the
// router's per-heartbeat hot path.
func topicTotal(p *TopicParams, c *TopicCounters) float64 {
	return p.TopicWeight * (p1(p, c) + p2(p, c) + p3(p, c) + p3b(p, c) + p4(p, c))
}

// The weighted components. P1 counts only while in the mesh, capped.
func p1(p *TopicParams, c *TopicCounters) float64 {
	if !c.InMesh || p.TimeInMeshQuantum <= 0 {
		return 0
	}
	return p.TimeInMeshWeight * min(float64(c.MeshTime)/float64(p.TimeInMeshQuantum), p.TimeInMeshCap)
}

func p2(p *TopicParams, c *TopicCounters) float64 {
	return p.FirstMessageDeliveriesWeight * c.FirstMessageDeliveries
}

// p3 charges the squared deficit once the activation window has passed.
func p3(p *TopicParams, c *TopicCounters) float64 {
	d := c.deficit(p)
	return p.MeshMessageDeliveriesWeight * d * d
}

func p3b(p *TopicParams, c *TopicCounters) float64 {
	return p.MeshFailurePenaltyWeight * c.MeshFailurePenalty
}

func p4(p *TopicParams, c *TopicCounters) float64 {
	return p.InvalidMessageDeliveriesWeight * c.InvalidMessageDeliveries * c.InvalidMessageDeliveries
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
	for name, c := range topics {
		if tp, ok := p.Topics[name]; ok {
			sum += topicTotal(&tp, &c)
		}
	}
	return capTopics(p, sum) + peerTerms(p, pc, p6)
}

// Explain returns the same score as Score with every component, topics sorted
// by name; topics without parameters contribute nothing.
func Explain(p *Params, topics map[string]TopicCounters, pc PeerCounters, p6 float64) Breakdown {
	var b Breakdown
	for name, c := range topics {
		if tp, ok := p.Topics[name]; ok {
			tc := Topic(name, tp, &c)
			b.Topics = append(b.Topics, tc)
			b.TopicSum += tc.Total
		}
	}
	slices.SortFunc(b.Topics, func(a, c TopicComponents) int { return strings.Compare(a.Topic, c.Topic) })
	b.TopicCapped = capTopics(p, b.TopicSum)
	b.P5 = p.AppSpecificWeight * pc.AppSpecific
	b.P6 = p.IPColocationFactorWeight * p6
	b.P7 = behaviour(p, pc)
	b.Total = b.TopicCapped + b.P5 + b.P6 + b.P7
	return b
}

// Term is one named, weighted term of a score.
type Term struct {
	// Name is "P1".."P4" with the topic ("P3b[/waku/2/rs/1/0]"), "topic cap"
	// (what TopicScoreCap took off), "P5", "P6" or "P7".
	Name  string
	Value float64
}

// Terms lists every term that makes up Total, in order, so that their sum
// is Total: each topic's five components multiplied by its TopicWeight, the
// topic cap's reduction (when it applies), then P5, P6 and P7. An operator
// asking "why is this peer negative?" reads the answer here; a term left
// out would make a negative total look unexplained.
func (b Breakdown) Terms() []Term {
	out := make([]Term, 0, 5*len(b.Topics)+4)
	for _, tc := range b.Topics {
		for _, c := range []struct {
			n string
			v float64
		}{{"P1", tc.P1}, {"P2", tc.P2}, {"P3", tc.P3}, {"P3b", tc.P3b}, {"P4", tc.P4}} {
			out = append(out, Term{Name: c.n + "[" + tc.Topic + "]", Value: tc.Weight * c.v})
		}
	}
	if b.TopicCapped != b.TopicSum {
		out = append(out, Term{Name: "topic cap", Value: b.TopicCapped - b.TopicSum})
	}
	return append(out, Term{"P5", b.P5}, Term{"P6", b.P6}, Term{"P7", b.P7})
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
