package score

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTopicComponents(t *testing.T) {
	w := StrictWakuTopicParams()
	tests := []struct {
		name string
		c    TopicCounters
		want TopicComponents // weighted
	}{
		{name: "P1 time in mesh: 5 quanta × 0.01", c: TopicCounters{InMesh: true, MeshTime: 5 * time.Second}, want: TopicComponents{P1: 0.05, Total: 0.05}},
		{name: "P1 capped at 10 quanta", c: TopicCounters{InMesh: true, MeshTime: time.Hour}, want: TopicComponents{P1: 0.1, Total: 0.1}},
		{name: "P1 zero outside the mesh", c: TopicCounters{MeshTime: time.Hour}, want: TopicComponents{}},
		{name: "P2 first deliveries × 1", c: TopicCounters{FirstMessageDeliveries: 3}, want: TopicComponents{P2: 3, Total: 3}},
		{name: "P3 active deficit squared: (1 − 0.25)² × −1", c: TopicCounters{MeshMessageDeliveriesActive: true, MeshMessageDeliveries: 0.25}, want: TopicComponents{P3: -0.5625, Total: -0.5625}},
		{name: "P3 inactive: none", c: TopicCounters{MeshMessageDeliveries: 0}, want: TopicComponents{}},
		{name: "P3 at threshold: none", c: TopicCounters{MeshMessageDeliveriesActive: true, MeshMessageDeliveries: 1}, want: TopicComponents{}},
		{name: "P3b sticky penalty × −1", c: TopicCounters{MeshFailurePenalty: 4}, want: TopicComponents{P3b: -4, Total: -4}},
		{name: "P4 invalid squared × −100", c: TopicCounters{InvalidMessageDeliveries: 2}, want: TopicComponents{P4: -400, Total: -400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Topic("t", w, &tt.c)
			if !near(got.P1, tt.want.P1) || !near(got.P2, tt.want.P2) || !near(got.P3, tt.want.P3) ||
				!near(got.P3b, tt.want.P3b) || !near(got.P4, tt.want.P4) || !near(got.Total, tt.want.Total) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	ip1, ip2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("192.0.2.7")
	peersOn := func(a netip.Addr) int {
		if a == ip1 {
			return 7
		}
		return 12
	}
	lib := DefaultLibp2pParams("a", "b")
	waku := DefaultWakuParams("a")
	capped := DefaultLibp2pParams("a")
	capped.TopicScoreCap = 1
	behThr := DefaultLibp2pParams()
	behThr.BehaviourPenaltyThreshold = 1
	white := DefaultWakuParams()
	white.IPColocationFactorWhitelist = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

	tests := []struct {
		name   string
		p      *Params
		topics map[string]TopicCounters
		pc     PeerCounters
		ips    []netip.Addr
		want   float64
	}{
		{name: "topic weight: 0.5 × (2 + 3) over two topics", p: &lib,
			topics: map[string]TopicCounters{"a": {FirstMessageDeliveries: 2}, "b": {FirstMessageDeliveries: 3}}, want: 2.5},
		{name: "topic without params ignored", p: &lib, topics: map[string]TopicCounters{"zzz": {FirstMessageDeliveries: 2}}, want: 0},
		{name: "topic score cap applies to the positive sum", p: &capped, topics: map[string]TopicCounters{"a": {FirstMessageDeliveries: 10}}, want: 1},
		{name: "P5 application score × 10", p: &lib, pc: PeerCounters{AppSpecific: 2}, want: 20},
		{name: "P6 colocation: (7 − 5)² × −50", p: &waku, ips: []netip.Addr{ip1}, want: -200},
		{name: "P6 summed over IPs: −50·(4 + 49)", p: &waku, ips: []netip.Addr{ip1, ip2}, want: -2650},
		{name: "P6 whitelist exempts", p: &white, ips: []netip.Addr{ip1}, want: 0},
		{name: "P7 behaviour: 3² × −10", p: &waku, pc: PeerCounters{BehaviourPenalty: 3}, want: -90},
		{name: "P7 above threshold: (3 − 1)² × −10", p: &behThr, pc: PeerCounters{BehaviourPenalty: 3}, want: -40},
		{name: "P7 at threshold: none", p: &behThr, pc: PeerCounters{BehaviourPenalty: 1}, want: 0},
		{name: "all together (waku): 0.1 + 2 − 400 − 200 − 10", p: &waku,
			topics: map[string]TopicCounters{"a": {InMesh: true, MeshTime: time.Minute, FirstMessageDeliveries: 2, InvalidMessageDeliveries: 2}},
			pc:     PeerCounters{BehaviourPenalty: 1}, ips: []netip.Addr{ip1}, want: 0.1 + 2 - 400 - 200 - 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p6 := Colocation(tt.p, tt.ips, peersOn)
			got := Score(tt.p, tt.topics, tt.pc, p6)
			if !near(got, tt.want) {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
			if b := Explain(tt.p, tt.topics, tt.pc, p6); !near(b.Total, got) {
				t.Errorf("Explain total %v ≠ Score %v (%+v)", b.Total, got, b)
			}
		})
	}
}

func TestExplainComponents(t *testing.T) {
	p := DefaultWakuParams("b", "a")
	b := Explain(&p, map[string]TopicCounters{
		"b": {FirstMessageDeliveries: 1},
		"a": {InvalidMessageDeliveries: 1},
	}, PeerCounters{BehaviourPenalty: 2}, 1)
	if len(b.Topics) != 2 || b.Topics[0].Topic != "a" || b.Topics[0].P4 != -100 || b.Topics[1].P2 != 1 {
		t.Fatalf("topics %+v", b.Topics)
	}
	if b.TopicSum != -99 || b.P6 != -50 || b.P7 != -40 || b.Total != -189 {
		t.Fatalf("breakdown %+v", b)
	}
}

func TestCounters(t *testing.T) {
	p := StrictWakuTopicParams()
	t.Run("first deliveries capped at increment", func(t *testing.T) {
		var c TopicCounters
		for range 20 {
			c.FirstDelivery(p)
		}
		if c.FirstMessageDeliveries != 10 || c.MeshMessageDeliveries != 0 {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("mesh deliveries only in mesh, capped", func(t *testing.T) {
		var c TopicCounters
		c.MeshDelivery(p)
		c.Graft(t0)
		for range 20 {
			c.FirstDelivery(p)
		}
		if c.MeshMessageDeliveries != 10 {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("activation after the window", func(t *testing.T) {
		var c TopicCounters
		c.Graft(t0)
		c.Refresh(t0.Add(10*time.Second), p)
		if c.MeshMessageDeliveriesActive {
			t.Fatal("active at the window")
		}
		c.Refresh(t0.Add(11*time.Second), p)
		if !c.MeshMessageDeliveriesActive || c.MeshTime != 11*time.Second {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("decay and decay to zero", func(t *testing.T) {
		c := TopicCounters{FirstMessageDeliveries: 4, InvalidMessageDeliveries: 0.015, MeshFailurePenalty: 1}
		c.Decay(p, 0.01)
		if c.FirstMessageDeliveries != 2 || c.InvalidMessageDeliveries != 0 || !near(c.MeshFailurePenalty, 0.97) {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("behaviour penalty decays", func(t *testing.T) {
		pp := DefaultWakuParams()
		pc := PeerCounters{}
		pc.AddPenalty(1)
		pc.Decay(pp)
		if !near(pc.BehaviourPenalty, 0.986) {
			t.Fatalf("%v", pc.BehaviourPenalty)
		}
	})
}

// A mesh peer that forwards nothing must be negative once P3 activates, with
// the strict waku parameters (CVE-2022-47547).
func TestSilentMeshPeerGoesNegative(t *testing.T) {
	p := DefaultWakuParams()
	p.Topics["t"] = StrictWakuTopicParams()
	quietMeshPeer(p.Topics["t"], p.DecayToZero, 30, func(s int, c *TopicCounters) {
		got := Score(&p, map[string]TopicCounters{"t": *c}, PeerCounters{}, 0)
		if s <= 10 && got < 0 {
			t.Fatalf("negative at %d s, before activation: %v", s, got)
		}
		if s > 10 && got >= 0 {
			t.Fatalf("still %v at %d s, after the 10 s activation window", got, s)
		}
	})
}

// quietMeshPeer grafts a peer that delivers nothing, then for each second
// 1…seconds refreshes its counters, decays them every 12 s (the waku decay
// interval) and calls check.
func quietMeshPeer(tp TopicParams, decayToZero float64, seconds int, check func(s int, c *TopicCounters)) *TopicCounters {
	var c TopicCounters
	c.Graft(t0)
	for s := 1; s <= seconds; s++ {
		c.Refresh(t0.Add(time.Duration(s)*time.Second), tp)
		if s%12 == 0 {
			c.Decay(tp, decayToZero)
		}
		check(s, &c)
	}
	return &c
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{DefaultWakuParams("a"), DefaultLibp2pParams("a")} {
		if err := p.Validate(); err != nil {
			t.Fatalf("defaults invalid: %v", err)
		}
	}
	for _, th := range []Thresholds{DefaultWakuThresholds(), DefaultLibp2pThresholds()} {
		if err := th.Validate(); err != nil {
			t.Fatalf("thresholds invalid: %v", err)
		}
	}
	tests := []struct {
		param string
		mod   func(p *Params, th *Thresholds)
	}{
		{"InvalidMessageDeliveriesWeight", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.InvalidMessageDeliveriesWeight = 1
			p.Topics["a"] = tp
		}},
		{"MeshMessageDeliveriesWeight", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.MeshMessageDeliveriesWeight = 0.5
			p.Topics["a"] = tp
		}},
		{"MeshFailurePenaltyWeight", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.MeshFailurePenaltyWeight = 1
			p.Topics["a"] = tp
		}},
		{"FirstMessageDeliveriesWeight", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.FirstMessageDeliveriesWeight = -1
			p.Topics["a"] = tp
		}},
		{"FirstMessageDeliveriesDecay", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.FirstMessageDeliveriesDecay = 1
			p.Topics["a"] = tp
		}},
		{"MeshMessageDeliveriesCap", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.MeshMessageDeliveriesCap = 0.5
			p.Topics["a"] = tp
		}},
		{"MeshMessageDeliveriesActivation", func(p *Params, _ *Thresholds) {
			tp := p.Topics["a"]
			tp.MeshMessageDeliveriesActivation = 0
			p.Topics["a"] = tp
		}},
		{"TimeInMeshQuantum", func(p *Params, _ *Thresholds) { tp := p.Topics["a"]; tp.TimeInMeshQuantum = 0; p.Topics["a"] = tp }},
		{"TopicWeight", func(p *Params, _ *Thresholds) { tp := p.Topics["a"]; tp.TopicWeight = math.NaN(); p.Topics["a"] = tp }},
		{"IPColocationFactorWeight", func(p *Params, _ *Thresholds) { p.IPColocationFactorWeight = 50 }},
		{"BehaviourPenaltyWeight", func(p *Params, _ *Thresholds) { p.BehaviourPenaltyWeight = 10 }},
		{"BehaviourPenaltyDecay", func(p *Params, _ *Thresholds) { p.BehaviourPenaltyDecay = 0 }},
		{"AppSpecificWeight", func(p *Params, _ *Thresholds) { p.AppSpecificWeight = -1 }},
		{"DecayToZero", func(p *Params, _ *Thresholds) { p.DecayToZero = 0 }},
		{"DecayInterval", func(p *Params, _ *Thresholds) { p.DecayInterval = 0 }},
		{"Gossip", func(_ *Params, th *Thresholds) { th.Gossip = 1 }},
		{"Publish", func(_ *Params, th *Thresholds) { th.Publish = th.Gossip + 1 }},
		{"Graylist", func(_ *Params, th *Thresholds) { th.Graylist = th.Publish }},
		{"AcceptPX", func(_ *Params, th *Thresholds) { th.AcceptPX = -1 }},
		{"OpportunisticGraft", func(_ *Params, th *Thresholds) { th.OpportunisticGraft = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			p, th := DefaultWakuParams(), DefaultWakuThresholds()
			p.Topics["a"] = StrictWakuTopicParams()
			tt.mod(&p, &th)
			err := p.Validate()
			if e2 := th.Validate(); e2 != nil {
				err = e2
			}
			if err == nil || !strings.Contains(err.Error(), tt.param+" =") {
				t.Fatalf("error %v does not name %s", err, tt.param)
			}
		})
	}
}

func TestDecayFor(t *testing.T) {
	// Forget within 10 intervals: 0.01^(1/10).
	if got := DecayFor(10*time.Second, time.Second, 0.01); !near(got, math.Pow(0.01, 0.1)) {
		t.Fatalf("%v", got)
	}
}

func TestPruneChargesP3b(t *testing.T) {
	p := StrictWakuTopicParams()
	tests := []struct {
		name string
		c    TopicCounters
		want float64
	}{
		{"active deficit 0.25: (1 − 0.25)²", TopicCounters{InMesh: true, MeshMessageDeliveriesActive: true, MeshMessageDeliveries: 0.25}, 0.5625},
		{"inactive: nothing", TopicCounters{InMesh: true}, 0},
		{"not in mesh: nothing", TopicCounters{MeshMessageDeliveriesActive: true}, 0},
		{"accumulates onto an existing penalty", TopicCounters{InMesh: true, MeshMessageDeliveriesActive: true, MeshFailurePenalty: 2}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Prune(p)
			if !near(c.MeshFailurePenalty, tt.want) || c.InMesh || c.MeshMessageDeliveriesActive {
				t.Fatalf("%+v, want P3b %v", c, tt.want)
			}
		})
	}
}

func TestIdle(t *testing.T) {
	var c TopicCounters
	if !c.Idle() {
		t.Fatal("zero counters not idle")
	}
	c.Invalid()
	if c.Idle() || c.InvalidMessageDeliveries != 1 {
		t.Fatal("invalid delivery not counted")
	}
}

// TestDefaultsPunishSilentMeshPeers (CVE-2022-47547): with the libp2p
// profile's default and the strict waku topic parameters, a mesh peer that forwards nothing is negative
// once P3 is active, even at the largest P1 (time in mesh at its cap); and a
// mesh peer whose P3 counter is at the threshold is not.
func TestDefaultsPunishSilentMeshPeers(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    TopicParams
	}{
		{"waku strict", StrictWakuTopicParams()},
		{"libp2p", DefaultLibp2pTopicParams()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			longest := time.Duration(tt.p.TimeInMeshCap) * tt.p.TimeInMeshQuantum * 2
			silent := TopicCounters{InMesh: true, MeshTime: longest, MeshMessageDeliveriesActive: true}
			if got := Topic("t", tt.p, &silent); got.Total >= 0 {
				t.Errorf("silent mesh peer after %s in the mesh scores %+v, want negative", longest, got)
			}
			before := TopicCounters{InMesh: true, MeshTime: tt.p.MeshMessageDeliveriesActivation}
			if got := Topic("t", tt.p, &before); got.Total < 0 {
				t.Errorf("silent mesh peer before activation scores %+v, want ≥ 0", got)
			}
			busy := silent
			busy.MeshTime = tt.p.MeshMessageDeliveriesActivation
			busy.MeshMessageDeliveries = tt.p.MeshMessageDeliveriesThreshold
			if got := Topic("t", tt.p, &busy); got.Total < 0 {
				t.Errorf("mesh peer at the delivery threshold scores %+v, want ≥ 0", got)
			}
		})
	}
}

// TestWakuDefaultsMatchNwaku: the waku profile's topic parameters are
// nwaku's (waku_relay/protocol.nim TopicParameters), P3 and P3b off, so an
// honest mesh peer on a quiet topic — no message for an hour — is never
// negative; only invalid messages (P4) are.
func TestWakuDefaultsMatchNwaku(t *testing.T) {
	p := DefaultWakuTopicParams()
	want := TopicParams{TopicWeight: 1, TimeInMeshWeight: 0.01, TimeInMeshQuantum: time.Second, TimeInMeshCap: 10,
		FirstMessageDeliveriesWeight: 1, FirstMessageDeliveriesDecay: 0.5, FirstMessageDeliveriesCap: 10,
		InvalidMessageDeliveriesWeight: -100, InvalidMessageDeliveriesDecay: 0.5}
	if p != want {
		t.Fatalf("DefaultWakuTopicParams() = %+v, want nwaku's %+v", p, want)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	c := quietMeshPeer(p, 0.01, 3600, func(s int, c *TopicCounters) {
		if got := Topic("t", p, c); got.Total < 0 {
			t.Fatalf("quiet honest mesh peer negative after %ds: %+v", s, got)
		}
	})
	c.Invalid()
	if got := Topic("t", p, c); got.Total >= 0 {
		t.Fatalf("invalid message not penalised: %+v", got)
	}
}

// TestTermsSumToTotal: Terms lists every term of the score — including P3b
// and the topic cap, which an operator once could not see when a peer at
// −0.97 showed every listed component 0 — and they add up to Total.
func TestTermsSumToTotal(t *testing.T) {
	strict := DefaultWakuParams()
	strict.Topics["q"] = StrictWakuTopicParams()
	capped := DefaultLibp2pParams("a", "b")
	capped.TopicScoreCap = 1
	cases := []struct {
		name   string
		p      Params
		topics map[string]TopicCounters
		pc     PeerCounters
		p6     float64
		want   map[string]float64
	}{
		{"mesh failure penalty alone", strict, map[string]TopicCounters{"q": {MeshFailurePenalty: 0.97}}, PeerCounters{}, 0,
			map[string]float64{"P3b[q]": -0.97}},
		{"topic cap", capped, map[string]TopicCounters{"a": {FirstMessageDeliveries: 3}, "b": {FirstMessageDeliveries: 1}}, PeerCounters{}, 0,
			map[string]float64{"P2[a]": 1.5, "P2[b]": 0.5, "topic cap": -1}},
		{"every peer term", DefaultWakuParams("a"), map[string]TopicCounters{"a": {InvalidMessageDeliveries: 1}}, PeerCounters{BehaviourPenalty: 2}, 1,
			map[string]float64{"P4[a]": -100, "P6": -50, "P7": -40}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := Explain(&c.p, c.topics, c.pc, c.p6)
			if want := Score(&c.p, c.topics, c.pc, c.p6); !near(b.Total, want) {
				t.Fatalf("Explain total %v, Score %v", b.Total, want)
			}
			var sum float64
			got := map[string]float64{}
			for _, term := range b.Terms() {
				sum += term.Value
				if term.Value != 0 {
					got[term.Name] = term.Value
				}
			}
			if !near(sum, b.Total) {
				t.Fatalf("terms %+v sum to %v, total %v", b.Terms(), sum, b.Total)
			}
			if len(got) != len(c.want) {
				t.Fatalf("non-zero terms %v, want %v", got, c.want)
			}
			for n, v := range c.want {
				if !near(got[n], v) {
					t.Fatalf("term %s = %v, want %v (all: %v)", n, got[n], v, got)
				}
			}
		})
	}
}

// TestRefreshBeforeGraftIsNoTimeInMesh: a Refresh with a now before the
// graft time (the clock-domain mix of issue 11 item 1: a GRAFT stamped by a
// reader goroutine after the Tick's now) gives P1 = 0, never a negative
// score that pruneNegative would act on.
func TestRefreshBeforeGraftIsNoTimeInMesh(t *testing.T) {
	p := DefaultLibp2pTopicParams()
	graft := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	var c TopicCounters
	c.Graft(graft)
	c.Refresh(graft.Add(-300*time.Millisecond), p)
	if c.MeshTime != 0 {
		t.Fatalf("MeshTime = %v, want 0", c.MeshTime)
	}
	if tc := Topic("t", p, &c); tc.P1 != 0 || tc.Total < 0 {
		t.Fatalf("P1 = %v, total %v: want 0 and ≥ 0", tc.P1, tc.Total)
	}
}
