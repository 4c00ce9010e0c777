package discovery

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/peerexchange"
)

// fakeFinder answers each Find with the next batch, after delay.
type fakeFinder struct {
	batches chan [][]byte
	delay   time.Duration
}

func (f *fakeFinder) Find(ctx context.Context, n, maxReads int, timeout time.Duration) ([][]byte, int, error) {
	select {
	case b := <-f.batches:
		time.Sleep(f.delay) // the lookup's network time, virtual in the bubble
		return b[:min(len(b), n)], len(b), nil
	case <-time.After(timeout):
		return nil, 0, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

func (f *fakeFinder) ENR() string { return "enr:test" }

type actorEnv struct {
	sys    *actor.ActorSystem
	pid    *actor.PID
	pm, hb *actortest.Probe
	finder *fakeFinder
	reg    *prometheus.Registry
}

func startActor(t *testing.T, cfg Config) actorEnv {
	t.Helper()
	sys := actortest.NewSystem(t)
	e := actorEnv{sys: sys, pm: actortest.NewProbe(t, sys), hb: actortest.NewProbe(t, sys),
		finder: &fakeFinder{batches: make(chan [][]byte, 4), delay: 300 * time.Millisecond}, reg: prometheus.NewRegistry()}
	deps := Deps{PeerManager: e.pm.PID(), Heartbeat: e.hb.PID(), Registerer: e.reg, Rand: rand.New(rand.NewPCG(3, 4))}
	if cfg.Discv5 {
		deps.Finder = e.finder
	}
	props, err := Props(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.pid = sys.Root.Spawn(props)
	t.Cleanup(func() { _ = sys.Root.StopFuture(e.pid).Wait() })
	reg := actortest.Expect[*heartbeatv1.Register](e.hb)
	if reg.GetName() != RoundTick || reg.GetInterval().AsDuration() != cfg.RoundInterval {
		t.Fatalf("registered %v", reg)
	}
	return e
}

func (e actorEnv) tick(now time.Time) {
	e.hb.Send(e.pid, &heartbeatv1.Tick{Name: RoundTick, Seq: 1, Now: timestamppb.New(now)})
}

// A round asks the peer manager for its status; a hungry peer manager gets
// the records the lookup found, then a kick to dial them at once.
func TestActorRoundHandsFoundRecordsToThePeerManager(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := testConfig()
		e := startActor(t, cfg)
		a, b, other := relay(t), relay(t), makeRecord(t, rec{waku2: 1, cluster: 9, shards: []uint16{0}})
		e.finder.batches <- [][]byte{a.Raw, b.Raw, other.Raw}
		e.tick(t0)
		actortest.Expect[*pmv1.GetStatus](e.pm)
		e.pm.Respond(&pmv1.Status{OutRelayTarget: 3})
		for _, want := range []peer.ID{a.PeerID, b.PeerID} {
			add := actortest.Expect[*pmv1.AddPeer](e.pm)
			if peer.ID(add.GetPeer().GetPeerId()) != want || add.GetOrigin() != peerv1.Origin_ORIGIN_DISCV5 {
				t.Fatalf("AddPeer %v, want %s", add, want)
			}
		}
		actortest.Expect[*pmv1.ConnectivityKick](e.pm)
		e.pm.ExpectNoMessage(time.Second)
		st, err := e.sys.Root.RequestFuture(e.pid, &discoveryv1.GetDiscoveryStatus{}, time.Second).Result()
		if s := st.(*discoveryv1.DiscoveryStatus); err != nil || s.GetFound() != 2 || s.GetServable() != 2 || s.GetTableSize() != 3 || s.GetLookupInFlight() {
			t.Fatalf("status %v, %v", st, err)
		}
		if v := counter(t, e.reg, "peermesh_discovery_records_total", "other_cluster"); v != 1 {
			t.Fatalf("other_cluster records %v", v)
		}
		// Not hungry: no lookup before RefreshRounds.
		e.tick(t0.Add(cfg.RoundInterval))
		actortest.Expect[*pmv1.GetStatus](e.pm)
		e.pm.Respond(&pmv1.Status{OutRelayTarget: 3, OutRelayPeers: 3})
		e.pm.ExpectNoMessage(time.Second)
	})
}

// Peer exchange is served from what discv5 found, within the round's
// budget.
func TestActorServesPeerExchange(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.ServePerRound = 1
		e := startActor(t, cfg)
		e.finder.batches <- [][]byte{relay(t).Raw, relay(t).Raw}
		e.tick(t0)
		actortest.Expect[*pmv1.GetStatus](e.pm)
		e.pm.Respond(&pmv1.Status{OutRelayTarget: 3})
		actortest.ReceiveN[*pmv1.AddPeer](e.pm, 2, time.Second)
		client := actortest.NewProbe(t, e.sys)
		client.Request(e.pid, &discoveryv1.ServePeerExchange{Requester: []byte(selfID(t)), NumPeers: 5})
		if ans := actortest.Expect[*discoveryv1.PeerExchangeAnswer](client); ans.GetStatusCode() != peerexchange.StatusSuccess || len(ans.GetRecords()) != 2 {
			t.Fatalf("answer %v", ans)
		}
		client.Request(e.pid, &discoveryv1.ServePeerExchange{Requester: []byte(selfID(t)), NumPeers: 5})
		if ans := actortest.Expect[*discoveryv1.PeerExchangeAnswer](client); ans.GetStatusCode() != peerexchange.StatusTooManyRequests {
			t.Fatalf("over budget: %v", ans)
		}
	})
}

// A hungry node dials its peer-exchange node through the peer manager; a
// failed dial ends the request (a later round may try again).
func TestActorDialsThePeerExchangeNodeThroughThePeerManager(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Discv5 = false
		cfg.PeerExchangeNode = "/ip4/127.0.0.1/tcp/60000/p2p/16Uiu2HAmG7ivSKKkNyh3Eq5wrUBmdrvqtF6iFYkDFhYrK98mNgKW"
		e := startActor(t, cfg)
		e.tick(t0)
		actortest.Expect[*pmv1.GetStatus](e.pm)
		e.pm.Respond(&pmv1.Status{OutRelayTarget: 3})
		// A plain connection through the pool: no stream of peer exchange
		// opened just to prove support (go-waku counts it as a request).
		req := actortest.Expect[*pmv1.ConnectToNodes](e.pm)
		if len(req.GetNodes()) != 1 || req.GetNodes()[0] != cfg.PeerExchangeNode || req.GetSource() != dialerv1.DialSource_DIAL_SOURCE_SERVICE {
			t.Fatalf("dial %v", req)
		}
		e.pm.Respond(&pmv1.NodesConnected{Attempted: 1, Results: []*pmv1.NodeResult{{Node: req.GetNodes()[0], Error: "refused"}}})
		e.pm.ExpectNoMessage(time.Second)
		if v := counter(t, e.reg, "waku_px_errors", "request"); v != 1 {
			t.Fatalf("px errors %v", v)
		}
		st, _ := e.sys.Root.RequestFuture(e.pid, &discoveryv1.GetDiscoveryStatus{}, time.Second).Result()
		if s := st.(*discoveryv1.DiscoveryStatus); s.GetPxInFlight() || s.GetPxRequests() != 1 {
			t.Fatalf("status %v", s)
		}
	})
}

// counter sums the metric name's series with a label value of label.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}
