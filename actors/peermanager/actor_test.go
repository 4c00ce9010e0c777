package peermanager

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/storage"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// fakeCloser records the peers the actor disconnects.
type fakeCloser struct {
	mu     sync.Mutex
	closed []peer.ID
}

func (f *fakeCloser) ClosePeer(p peer.ID) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, p)
	return nil
}

func (f *fakeCloser) peers() []peer.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.closed)
}

// rig is a peer manager under test with probes standing in for the dial
// pool and the storage actor.
type rig struct {
	t       *testing.T
	sys     *actor.ActorSystem
	pm      *actor.PID
	dialer  *actortest.Probe
	storage *actortest.Probe
	client  *actortest.Probe
	closer  *fakeCloser
	reg     *prometheus.Registry
	start   time.Time
}

// newRig starts a manager and answers its LoadAll with recs.
func newRig(t *testing.T, cfg Config, recs ...*peerv1.PeerRecord) *rig {
	t.Helper()
	sys := actortest.NewSystem(t)
	r := &rig{t: t, sys: sys, dialer: actortest.NewProbe(t, sys), storage: actortest.NewProbe(t, sys),
		client: actortest.NewProbe(t, sys), closer: &fakeCloser{}, reg: prometheus.NewRegistry(), start: time.Now()}
	r.pm = sys.Root.Spawn(Props(cfg, Deps{Self: pid(self), Dialer: r.dialer.PID(), Storage: r.storage.PID(),
		Closer: r.closer, Registerer: r.reg}))
	actortest.Expect[*storagev1.LoadAll](r.storage)
	if len(recs) > 0 {
		r.storage.Respond(&storagev1.LoadBatch{Records: recs})
	}
	r.storage.Respond(&storagev1.LoadCompleted{Loaded: uint64(len(recs))})
	return r
}

func (r *rig) tick(name string, after time.Duration) {
	r.client.Send(r.pm, &heartbeatv1.Tick{Name: name, Now: timestamppb.New(r.start.Add(after))})
}

// dials collects the DialPeer requests the pool receives until it is quiet.
func (r *rig) dials() []*dialerv1.DialPeer {
	r.t.Helper()
	synctest.Wait()
	var out []*dialerv1.DialPeer
	for {
		m, ok := r.dialer.Next(time.Millisecond)
		if !ok {
			return out
		}
		d, isDial := m.Message.(*dialerv1.DialPeer)
		if !isDial {
			r.t.Fatalf("dial pool got %T", m.Message)
		}
		out = append(out, d)
	}
}

// complete answers one DialPeer as the pool would.
func (r *rig) complete(id peer.ID, o dialerv1.DialOutcome) {
	r.client.Send(r.pm, &dialerv1.DialCompleted{PeerId: []byte(id), Outcome: o, Reason: "test"})
}

func (r *rig) connected(i int, dir peerv1.Direction, ip string) {
	// Distinct connection times make "newest first" deterministic.
	r.client.Send(r.pm, &pmv1.PeerConnected{PeerId: []byte(pid(i)), Direction: dir, RemoteIp: ip,
		Time: timestamppb.New(r.start.Add(time.Duration(i) * time.Second))})
}

func (r *rig) errorsOf(typ string) float64 {
	return testutil.ToFloat64(mustVec(r.reg, "waku_peers_errors", typ))
}

func mustVec(reg *prometheus.Registry, name, label string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" && len(m.GetLabel()) == 0 { // an unlabelled metric
				g.Set(m.GetCounter().GetValue() + m.GetGauge().GetValue())
			}
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					g.Set(m.GetCounter().GetValue() + m.GetGauge().GetValue())
				}
			}
		}
	}
	return g
}

func relayRecord(i int) *peerv1.PeerRecord {
	e := &entry{id: pid(i), addrs: [][]byte{addr(i)}, protocols: []string{WakuRelayCodec}, origin: peerv1.Origin_ORIGIN_DISCV5}
	return e.toRecord()
}

func TestActorConnectivityRoundAsksForMinOfCandidatesAndGap(t *testing.T) {
	tests := []struct {
		name       string
		candidates int
		connected  int // outbound relay peers already connected
		want       int
	}{
		{"fewer candidates than the gap: all of them", 7, 0, 7},
		{"more candidates than the gap: the gap", 15, 4, 6},
		{"target met: none", 5, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				var recs []*peerv1.PeerRecord
				for i := 1; i <= tt.candidates+tt.connected; i++ {
					recs = append(recs, relayRecord(i))
				}
				r := newRig(t, testConfig(), recs...)
				for i := 1; i <= tt.connected; i++ {
					r.connected(tt.candidates+i, out, "")
				}
				r.tick(TickConnectivity, 0)
				got := r.dials()
				if len(got) != tt.want {
					t.Fatalf("%d dials, want min(%d candidates, gap %d) = %d", len(got), tt.candidates, 10-tt.connected, tt.want)
				}
				for _, d := range got {
					if d.Source != dialerv1.DialSource_DIAL_SOURCE_RELAY || d.Protocol != "" || len(d.Addresses) != 1 ||
						d.Timeout.AsDuration() != 10*time.Second {
						t.Fatalf("dial %v", d)
					}
				}
				// A second tick while those dials are in flight asks for nothing more.
				r.tick(TickConnectivity, 15*time.Second)
				if again := r.dials(); len(again) != 0 {
					t.Fatalf("second round asked for %d more dials while %d are in flight", len(again), len(got))
				}
			})
		})
	}
}

func TestActorBackoffOverHoursOfVirtualTime(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig(), relayRecord(1))
		r.connected(50, out, "") // online: failures count
		at := time.Duration(0)
		for n, wait := range []time.Duration{120 * time.Second, 480 * time.Second, 1920 * time.Second, 7680 * time.Second, 0} {
			r.tick(TickConnectivity, at)
			if d := r.dials(); len(d) != 1 || peer.ID(d[0].PeerId) != pid(1) {
				t.Fatalf("attempt %d at +%s: dials %v", n+1, at, d)
			}
			failedAt := time.Now()
			r.complete(pid(1), dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT)
			put := actortest.Fish(r.storage, func(p *storagev1.Put) bool { return peer.ID(p.Record.PeerId) == pid(1) })
			if put.Record.FailedAttempts != uint32(n+1) || put.Record.Connectedness != peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT {
				t.Fatalf("persisted %v after failure %d", put.Record, n+1)
			}
			if wait == 0 {
				break
			}
			// Ticks carry time: one second before the backoff ends nothing
			// is dialed, at its end the peer is.
			at = failedAt.Sub(r.start) + wait
			r.tick(TickConnectivity, at-time.Second)
			if d := r.dials(); len(d) != 0 {
				t.Fatalf("after %d failures: dialed %s before the %s backoff ended", n+1, time.Second, wait)
			}
		}
		r.tick(TickConnectivity, at+7*24*time.Hour)
		if d := r.dials(); len(d) != 0 {
			t.Fatalf("dialed after MaxFailedAttempts: %v", d)
		}
	})
}

func TestActorOfflineFailuresAreNotCounted(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig(), relayRecord(1))
		r.tick(TickConnectivity, 0)
		if d := r.dials(); len(d) != 1 {
			t.Fatalf("dials %v", d)
		}
		r.complete(pid(1), dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE)
		r.tick(TickConnectivity, time.Second)
		if d := r.dials(); len(d) != 1 {
			t.Fatalf("offline failure put the peer in backoff: dials %v", d)
		}
		// Isolated is not offline: a refusal counts and backs the peer off.
		r.complete(pid(1), dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED)
		r.tick(TickConnectivity, 2*time.Second)
		if d := r.dials(); len(d) != 0 {
			t.Fatalf("an isolated node's refused dial was not counted: dials %v", d)
		}
		if v := testutil.ToFloat64(mustVec(r.reg, "peermesh_peermanager_dials_deferred_total", "offline")); v != 1 {
			t.Fatalf("deferred metric %v", v)
		}
	})
}

func TestActorRelayPeerLeavingDialsAtOnce(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig(), relayRecord(1), relayRecord(2))
		// The round ran 10 s ago (tick time), so the debounce has passed.
		r.tick(TickConnectivity, -10*time.Second)
		for _, d := range r.dials() {
			r.complete(peer.ID(d.PeerId), dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED)
			r.client.Send(r.pm, &pmv1.PeerConnected{PeerId: d.PeerId, Direction: out})
		}
		r.client.Send(r.pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(3), Protocols: []string{WakuRelayCodec}}})
		r.dials()
		// Relay peer 1 leaves: peer 3 is dialed without waiting for a tick.
		r.client.Send(r.pm, &pmv1.PeerDisconnected{PeerId: []byte(pid(1))})
		d := r.dials()
		ids := make([]peer.ID, 0, len(d))
		for _, x := range d {
			ids = append(ids, peer.ID(x.PeerId))
		}
		if !slices.Contains(ids, pid(3)) {
			t.Fatalf("no dial of peer 3 after a relay peer left: %v", ids)
		}
	})
}

func TestActorInboundAndColocationLimitsDisconnect(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		c := testConfig()
		c.ColocationLimit = 3
		r := newRig(t, c, relayRecord(1), relayRecord(2), relayRecord(3), relayRecord(4))
		// Inbound relay target 2: the third inbound relay peer goes.
		for i := 1; i <= 3; i++ {
			r.connected(i, in, "10.0.0.1")
		}
		// Colocation 3 on 10.0.0.2: non-relay peers 5..8, the 4th goes.
		for i := 5; i <= 8; i++ {
			r.connected(i, in, "10.0.0.2")
		}
		synctest.Wait()
		got := r.closer.peers()
		slices.Sort(got)
		want := ids_(3, 8)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("closed %v, want %v", got, want)
		}
		if v := testutil.ToFloat64(mustVec(r.reg, "peermesh_peermanager_pruned_total", "colocation")); v != 1 {
			t.Fatalf("colocation pruned %v", v)
		}
	})
}

func TestActorBadInputIsAnErrorAndCounted(t *testing.T) {
	tests := []struct {
		name    string
		req     func(r *rig)
		errType string
		errText string
	}{
		{"malformed multiaddr", func(r *rig) {
			r.client.Request(r.pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: "/ip4/300.0.0.1/tcp/1/p2p/x"}})
		}, errInvalidMultiaddr, "parse multiaddr"},
		{"peer id mismatch", func(r *rig) {
			r.client.Request(r.pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1), PeerId: []byte(pid(2))}})
		}, errPeerIDMismatch, "does not match"},
		{"self", func(r *rig) {
			r.client.Request(r.pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(self)}})
		}, errSelf, "this node"},
		{"unknown protocol", func(r *rig) {
			r.client.Request(r.pm, &pmv1.SelectPeer{Protocol: "/vac/waku/nothing/1.0.0"})
		}, errUnknownProtocol, "no peer found"},
		{"relay codec to dialPeer", func(r *rig) {
			r.client.Request(r.pm, &pmv1.DialPeerRequest{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1)}, Protocol: WakuRelayCodec})
		}, errRelayCodec, "relays"},
		{"relay codec to addServicePeer", func(r *rig) {
			r.client.Request(r.pm, &pmv1.AddServicePeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1)}, Protocol: WakuRelayCodec})
		}, errRelayCodec, "relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				r := newRig(t, testConfig())
				tt.req(r)
				m, ok := r.client.Next(time.Second)
				if !ok {
					t.Fatal("no answer")
				}
				e, _ := m.Message.(interface{ GetError() string })
				if e == nil || !strings.Contains(e.GetError(), tt.errText) {
					t.Fatalf("answer %v, want an error containing %q", m.Message, tt.errText)
				}
				if v := r.errorsOf(tt.errType); v != 1 {
					t.Fatalf("waku_peers_errors{type=%q} = %v, want 1", tt.errType, v)
				}
				// Still alive and serving.
				r.client.Request(r.pm, &pmv1.GetStatus{})
				actortest.Expect[*pmv1.Status](r.client)
			})
		})
	}
}

func TestActorConnectToNodesAnswersWhenDialsComplete(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.client.Request(r.pm, &pmv1.ConnectToNodes{Nodes: []string{maddr(1), "not a multiaddr", maddr(2)}})
		d := r.dials()
		if len(d) != 2 || d[0].Source != dialerv1.DialSource_DIAL_SOURCE_STATIC {
			t.Fatalf("dials %v", d)
		}
		r.client.ExpectNoMessage(time.Second)
		r.complete(pid(1), dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED)
		r.complete(pid(2), dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED)
		res := actortest.Expect[*pmv1.NodesConnected](r.client)
		if res.Attempted != 3 || res.Connected != 1 || res.Results[1].Error == "" || res.Results[2].Error == "" {
			t.Fatalf("answer %v", res)
		}
		if v := r.errorsOf(errInvalidMultiaddr); v != 1 {
			t.Fatalf("invalid_multiaddr counted %v", v)
		}
		if v := testutil.ToFloat64(mustVec(r.reg, "peermesh_peermanager_conns_initiated_total", "static")); v != 1 {
			t.Fatalf("conns initiated %v", v)
		}
	})
}

func TestActorServicePeerAndSelectPeer(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const store = "/vac/waku/store/2.0.0"
		r := newRig(t, testConfig())
		r.client.Request(r.pm, &pmv1.AddServicePeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1)}, Protocol: store})
		if a := actortest.Expect[*pmv1.ServicePeerAdded](r.client); a.Error != "" {
			t.Fatal(a.Error)
		}
		// The store size follows every change (nwaku's peerStoreChanged), not
		// only the 3 min log tick.
		if v := testutil.ToFloat64(mustVec(r.reg, "waku_peer_store_size", "")); v != 1 {
			t.Fatalf("waku_peer_store_size %v after one add, want 1", v)
		}
		r.client.Request(r.pm, &pmv1.SelectPeer{Protocol: store})
		sel := actortest.Expect[*pmv1.PeerSelected](r.client)
		if peer.ID(sel.Peer.GetPeerId()) != pid(1) {
			t.Fatalf("selected %v", sel)
		}
		if v := testutil.ToFloat64(mustVec(r.reg, "waku_service_peers", store)); v != 1 {
			t.Fatalf("waku_service_peers %v", v)
		}
	})
}

func TestActorRegistersTicksWithHeartbeat(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		hb, dialer := actortest.NewProbe(t, sys), actortest.NewProbe(t, sys)
		sys.Root.Spawn(Props(DefaultConfig(), Deps{Self: pid(self), Dialer: dialer.PID(), Heartbeat: hb.PID()}))
		var names []string
		for range 3 {
			reg := actortest.Expect[*heartbeatv1.Register](hb)
			names = append(names, reg.Name+"="+reg.Interval.AsDuration().String())
			hb.Respond(&heartbeatv1.Registered{Name: reg.Name})
		}
		slices.Sort(names)
		want := []string{"peermanager.connectivity=15s", "peermanager.log=3m0s", "peermanager.prune=10m0s"}
		if !slices.Equal(names, want) {
			t.Fatalf("registered %v, want %v", names, want)
		}
	})
}

func TestActorMisconfiguredRefusesRequests(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		client, dialer := actortest.NewProbe(t, sys), actortest.NewProbe(t, sys)
		c := DefaultConfig()
		c.MaxRelayPeers = 500
		pm := sys.Root.Spawn(Props(c, Deps{Self: pid(self), Dialer: dialer.PID()}))
		client.Request(pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1)}})
		if a := actortest.Expect[*pmv1.PeerAdded](client); !strings.Contains(a.Error, "MaxRelayPeers") {
			t.Fatalf("answer %v", a)
		}
	})
}

// TestActorRestartRestoresPeersAndBackoffFromBolt runs the real storage
// actor on a bbolt file: a peer's failure is persisted, the node stops, a
// new manager on a new storage actor over the reopened file loads the peer
// with its failure and honours the remaining backoff.
func TestActorRestartRestoresPeersAndBackoffFromBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.db")
	bubble.Test(t, func(t *testing.T) {
		scfg := storage.DefaultConfig()
		scfg.Path = path
		start := time.Now()
		type node struct {
			sys       *actor.ActorSystem
			st, pm    *actor.PID
			backend   storage.Backend
			dialer, c *actortest.Probe
		}
		boot := func() node {
			sys := actortest.NewSystem(t)
			b, err := storage.Open(scfg)
			if err != nil {
				t.Fatal(err)
			}
			n := node{sys: sys, backend: b, dialer: actortest.NewProbe(t, sys), c: actortest.NewProbe(t, sys)}
			n.st = sys.Root.Spawn(storage.Props(scfg, storage.Deps{Backend: b}))
			n.pm = sys.Root.Spawn(Props(testConfig(), Deps{Self: pid(self), Dialer: n.dialer.PID(), Storage: n.st}))
			synctest.Wait()
			return n
		}
		n := boot()
		n.c.Request(n.pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1), Protocols: []string{WakuRelayCodec}}, Origin: peerv1.Origin_ORIGIN_DISCV5})
		actortest.Expect[*pmv1.PeerAdded](n.c)
		n.c.Send(n.pm, &pmv1.PeerConnected{PeerId: []byte(pid(50)), Direction: out}) // online
		n.c.Send(n.pm, &heartbeatv1.Tick{Name: TickConnectivity, Now: timestamppb.New(start)})
		actortest.Expect[*dialerv1.DialPeer](n.dialer)
		n.dialer.Respond(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT})
		failedAt := time.Now()
		synctest.Wait()
		n.c.Request(n.st, &storagev1.Flush{})
		if f := actortest.Expect[*storagev1.Flushed](n.c); f.Error != "" {
			t.Fatal(f.Error)
		}
		n.sys.Root.StopFuture(n.pm).Wait()
		n.sys.Root.StopFuture(n.st).Wait()
		if err := n.backend.Close(); err != nil {
			t.Fatal(err)
		}

		n = boot()
		defer n.backend.Close()
		n.c.Request(n.pm, &pmv1.GetPeers{Protocol: WakuRelayCodec})
		got := actortest.Expect[*pmv1.Peers](n.c)
		if len(got.Peers) != 1 {
			t.Fatalf("restored %v", got.Peers)
		}
		rec := got.Peers[0]
		if peer.ID(rec.PeerId) != pid(1) || rec.FailedAttempts != 1 || rec.Origin != peerv1.Origin_ORIGIN_DISCV5 ||
			rec.Connectedness != peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT || len(rec.Addresses) != 1 ||
			!rec.LastFailureTime.AsTime().Equal(failedAt) {
			t.Fatalf("restored record %v (failed at %s)", rec, failedAt)
		}
		n.c.Send(n.pm, &heartbeatv1.Tick{Name: TickConnectivity, Now: timestamppb.New(failedAt.Add(119 * time.Second))})
		n.dialer.ExpectNoMessage(time.Second)
		n.c.Send(n.pm, &heartbeatv1.Tick{Name: TickConnectivity, Now: timestamppb.New(failedAt.Add(120 * time.Second))})
		if d := actortest.Expect[*dialerv1.DialPeer](n.dialer); peer.ID(d.PeerId) != pid(1) {
			t.Fatalf("dialed %v", d)
		}
	})
}

// A storage actor that never answers LoadAll does not keep the node from
// connecting: a round LoadTimeout after the start dials without it.
func TestActorLoadTimeoutDialsWithoutStorage(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		dialer, st, client := actortest.NewProbe(t, sys), actortest.NewProbe(t, sys), actortest.NewProbe(t, sys)
		reg := prometheus.NewRegistry()
		start := time.Now()
		pm := sys.Root.Spawn(Props(testConfig(), Deps{Self: pid(self), Dialer: dialer.PID(), Storage: st.PID(), Registerer: reg}))
		actortest.Expect[*storagev1.LoadAll](st) // and never answered
		client.Request(pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1), Protocols: []string{WakuRelayCodec}}})
		actortest.Expect[*pmv1.PeerAdded](client)
		client.Send(pm, &heartbeatv1.Tick{Name: TickConnectivity, Now: timestamppb.New(start.Add(15 * time.Second))})
		dialer.ExpectNoMessage(time.Second)
		client.Send(pm, &heartbeatv1.Tick{Name: TickConnectivity, Now: timestamppb.New(start.Add(time.Minute + time.Second))})
		if d := actortest.Expect[*dialerv1.DialPeer](dialer); peer.ID(d.PeerId) != pid(1) {
			t.Fatalf("dialed %v", d)
		}
		if v := testutil.ToFloat64(mustVec(reg, "waku_peers_errors", errStorageLoad)); v != 1 {
			t.Fatalf("storage_load_failure %v", v)
		}
	})
}

// Stopping the manager answers the requests waiting on dials.
func TestActorStopAnswersWaitingRequests(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		r := newRig(t, testConfig())
		r.client.Request(r.pm, &pmv1.ConnectToNodes{Nodes: []string{maddr(1)}})
		if d := r.dials(); len(d) != 1 {
			t.Fatalf("dials %v", d)
		}
		r.sys.Root.StopFuture(r.pm).Wait()
		res := actortest.Expect[*pmv1.NodesConnected](r.client)
		if res.Connected != 0 || !strings.Contains(res.Results[0].Error, "stopping") {
			t.Fatalf("answer %v", res)
		}
	})
}

// A dial pool or storage actor that is gone does not leave requests
// waiting, nor the load unfinished: the dead letters say so.
func TestActorDeadDialPoolAndStorage(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		client := actortest.NewProbe(t, sys)
		dead := func() *actor.PID {
			pid := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
			sys.Root.StopFuture(pid).Wait()
			return pid
		}
		reg := prometheus.NewRegistry()
		pm := sys.Root.Spawn(Props(testConfig(), Deps{Self: pid(self), Dialer: dead(), Storage: dead(), Registerer: reg}))
		synctest.Wait() // the LoadAll's dead letter comes back
		client.Request(pm, &pmv1.GetStatus{})
		if st := actortest.Expect[*pmv1.Status](client); !st.Loaded {
			t.Fatalf("status %v: the load must end when the storage actor is gone", st)
		}
		client.Request(pm, &pmv1.ConnectToNodes{Nodes: []string{maddr(1)}})
		res := actortest.Expect[*pmv1.NodesConnected](client)
		if res.Connected != 0 || !strings.Contains(res.Results[0].Error, "dial pool unreachable") {
			t.Fatalf("answer %v", res)
		}
		client.Request(pm, &pmv1.GetStatus{})
		if st := actortest.Expect[*pmv1.Status](client); st.DialsInFlight != 0 {
			t.Fatalf("status %v: dials to a dead pool still pending", st)
		}
		if v := testutil.ToFloat64(mustVec(reg, "waku_peers_errors", errDeadLetter)); v < 2 {
			t.Fatalf("dead_letter counted %v, want the LoadAll and the DialPeer", v)
		}
	})
}

type fakeConnections []*pmv1.PeerConnected

func (f fakeConnections) Connections() []*pmv1.PeerConnected { return f }

// A (re)started manager learns the connections that outlived it; the stored
// record of a connected peer does not overwrite its live state.
func TestActorStartAdoptsLiveConnections(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		dialer, st, client := actortest.NewProbe(t, sys), actortest.NewProbe(t, sys), actortest.NewProbe(t, sys)
		live := fakeConnections{
			{PeerId: []byte(pid(1)), Direction: out, RemoteIp: "10.0.0.1"},
			{PeerId: []byte(pid(2)), Direction: in, RemoteIp: "10.0.0.2"},
		}
		pm := sys.Root.Spawn(Props(testConfig(), Deps{Self: pid(self), Dialer: dialer.PID(), Storage: st.PID(), Connections: live}))
		actortest.Fish(st, func(*storagev1.LoadAll) bool { return true })
		st.Respond(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{relayRecord(1), relayRecord(3)}})
		st.Respond(&storagev1.LoadCompleted{Loaded: 2})
		client.Request(pm, &pmv1.GetStatus{})
		if s := actortest.Expect[*pmv1.Status](client); s.Connected != 2 || s.PeerStoreSize != 3 || !s.Loaded {
			t.Fatalf("status %v", s)
		}
		client.Request(pm, &pmv1.GetPeers{ConnectedOnly: true})
		if p := actortest.Expect[*pmv1.Peers](client); len(p.Peers) != 2 {
			t.Fatalf("connected peers %v", p.Peers)
		}
	})
}

type fakeStreams struct{}

func (fakeStreams) NumStreams(protocol string) (in, out int) { return 2, 3 }

func TestActorLogAndMetricsTickSetsGauges(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		dialer, client := actortest.NewProbe(t, sys), actortest.NewProbe(t, sys)
		reg := prometheus.NewRegistry()
		pm := sys.Root.Spawn(Props(testConfig(), Deps{Self: pid(self), Dialer: dialer.PID(), Streams: fakeStreams{}, Registerer: reg}))
		client.Request(pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1), Protocols: []string{WakuRelayCodec}}})
		actortest.Expect[*pmv1.PeerAdded](client)
		client.Request(pm, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(2)}})
		actortest.Expect[*pmv1.PeerAdded](client)
		client.Send(pm, &pmv1.PeerConnected{PeerId: []byte(pid(1)), Direction: out})
		client.Send(pm, &heartbeatv1.Tick{Name: TickLogMetrics, Now: timestamppb.Now()})
		client.Request(pm, &pmv1.GetNumStreams{Protocol: WakuRelayCodec})
		if s := actortest.Expect[*pmv1.NumStreams](client); s.Inbound != 2 || s.Outbound != 3 {
			t.Fatalf("num streams %v", s)
		}
		gauge := func(name string, labels ...string) float64 {
			mfs, _ := reg.Gather()
			for _, mf := range mfs {
				if mf.GetName() != name {
					continue
				}
			next:
				for _, m := range mf.GetMetric() {
					for i, l := range m.GetLabel() {
						if i >= len(labels) || l.GetValue() != labels[i] {
							continue next
						}
					}
					return m.GetGauge().GetValue()
				}
			}
			return -1
		}
		// Labels in Gather order: direction, protocol.
		if v := gauge("waku_connected_peers", "Out", WakuRelayCodec); v != 1 {
			t.Fatalf("waku_connected_peers{Out,relay} = %v", v)
		}
		if v := gauge("waku_connected_peers", "In", WakuRelayCodec); v != 0 {
			t.Fatalf("waku_connected_peers{In,relay} = %v", v)
		}
		if v := gauge("waku_streams_peers", "Out", WakuRelayCodec); v != 3 {
			t.Fatalf("waku_streams_peers{Out,relay} = %v", v)
		}
		if v := gauge("waku_peer_store_size"); v != 2 {
			t.Fatalf("waku_peer_store_size = %v", v)
		}
		if v := gauge("peermesh_peermanager_interned_strings"); v != 1 {
			t.Fatalf("peermesh_peermanager_interned_strings = %v, want 1 (the relay codec)", v)
		}
	})
}

// TestActorLoadBeyondCapacityDeletesOnDisk (issue 10, item 5): records the
// books cannot keep at load reach the storage actor as Deletes, so they do
// not stay on disk forever.
func TestActorLoadBeyondCapacityDeletesOnDisk(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		var recs []*peerv1.PeerRecord
		for i := 1; i <= 30; i++ {
			recs = append(recs, relayRecord(i))
		}
		r := newRig(t, testConfig(), recs...) // capacity 20
		synctest.Wait()
		deleted := map[peer.ID]bool{}
		for {
			m, ok := r.storage.Next(time.Millisecond)
			if !ok {
				break
			}
			if d, isDelete := m.Message.(*storagev1.Delete); isDelete {
				deleted[peer.ID(d.GetPeerId())] = true
			}
		}
		r.client.Request(r.pm, &pmv1.GetStatus{})
		st := actortest.Expect[*pmv1.Status](r.client)
		if st.PeerStoreSize > 20 || len(deleted) != 30-int(st.PeerStoreSize) {
			t.Fatalf("store %d peers, %d deleted on disk; want ≤ 20 and the rest deleted", st.PeerStoreSize, len(deleted))
		}
	})
}
