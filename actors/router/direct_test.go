package router_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/router"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// TestDirectPeerRedial: a disconnected direct peer is redialed through the
// dial pool (Deps.Dialer) at the first heartbeat and then every
// DirectConnectTicks heartbeats, not in between, and not once connected;
// without a dial pool the redial is skipped and counted.
func TestDirectPeerRedial(t *testing.T) {
	// setup returns a connect function (the router's host to the direct
	// peer), the dial-pool probe, a heartbeat, the metrics and the direct peer.
	setup := func(t *testing.T, withDialer bool) (func() error, *actortest.Probe, func(), *prometheus.Registry, peer.AddrInfo) {
		// The network closes before the actor system is waited out at cleanup
		// (cleanups run last first): its disconnect events reach stopped actors.
		sys := actortest.NewSystem(t)
		mn := mocknet.New()
		t.Cleanup(func() { _ = mn.Close() })
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		if err := mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		direct := peer.AddrInfo{ID: d.ID(), Addrs: d.Addrs()}
		cfg := router.DefaultConfig(wire.ProfileWaku)
		cfg.DirectPeers, cfg.DirectConnectTicks = []peer.AddrInfo{direct}, 3
		pool := actortest.NewProbe(t, sys)
		reg := prometheus.NewRegistry()
		deps := router.Deps{Host: h, Registerer: reg}
		if withDialer {
			deps.Dialer = pool.PID()
		}
		pid := sys.Root.Spawn(router.Props(cfg, deps))
		t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
		tick := func() {
			pool.Send(pid, &heartbeatv1.Tick{Now: timestamppb.Now()})
			synctest.Wait()
		}
		connect := func() error { _, err := mn.ConnectPeers(h.ID(), d.ID()); return err }
		return connect, pool, tick, reg, direct
	}
	t.Run("every DirectConnectTicks heartbeats while disconnected", func(t *testing.T) {
		bubble.Test(t, func(t *testing.T) {
			connect, pool, tick, reg, direct := setup(t, true)
			expectDial := func(beat int) {
				t.Helper()
				d := actortest.Expect[*dialerv1.DialPeer](pool)
				if peer.ID(d.GetPeerId()) != direct.ID || d.GetSource() != dialerv1.DialSource_DIAL_SOURCE_STATIC || len(d.GetAddresses()) != len(direct.Addrs) {
					t.Fatalf("heartbeat %d: dial %v, want the direct peer %s with its addresses", beat, d, direct.ID)
				}
				pool.Respond(&dialerv1.DialCompleted{PeerId: d.GetPeerId(), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_FAILED})
			}
			tick()
			expectDial(1)
			tick()
			tick()
			pool.ExpectNoMessage(time.Second)
			tick()
			expectDial(4)
			synctest.Wait()
			if got := counter(t, reg, "libp2p_gossipsub_direct_redials_total", "result", "sent"); got != 2 {
				t.Fatalf("sent redials counted %v, want 2", got)
			}
			if got := counter(t, reg, "libp2p_gossipsub_direct_redials_total", "result", dialerv1.DialOutcome_DIAL_OUTCOME_FAILED.String()); got != 2 {
				t.Fatalf("failed redials counted %v, want 2", got)
			}
			if err := connect(); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				tick()
			}
			pool.ExpectNoMessage(time.Second)
		})
	})
	t.Run("no dial pool: skipped and counted", func(t *testing.T) {
		bubble.Test(t, func(t *testing.T) {
			_, pool, tick, reg, _ := setup(t, false)
			tick()
			pool.ExpectNoMessage(time.Second)
			if got := counter(t, reg, "libp2p_gossipsub_direct_redials_total", "result", "no_dialer"); got != 1 {
				t.Fatalf("redials without a dial pool counted %v, want 1", got)
			}
		})
	})
}

// syncBuffer is a log sink shared by the router's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDirectPeerGraftWarns: router 0 has router 1 as a direct peer, router 1
// does not know it and GRAFTs. Router 0 keeps it out of its mesh, charges
// the penalty, logs a warning, and still sends it what it publishes.
func TestDirectPeerGraftWarns(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		// The network closes before the actor system is waited out at cleanup
		// (cleanups run last first): its disconnect events reach stopped actors.
		sys := actortest.NewSystem(t)
		mn := mocknet.New()
		t.Cleanup(func() { _ = mn.Close() })
		var hosts [2]peer.ID
		probe := actortest.NewProbe(t, sys)
		logs := &syncBuffer{}
		regs := [2]*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
		for i := range 2 {
			h, err := mn.GenPeer()
			if err != nil {
				t.Fatal(err)
			}
			hosts[i] = h.ID()
		}
		if err := mn.LinkAll(); err != nil {
			t.Fatal(err)
		}
		cfg0 := router.DefaultConfig(wire.ProfileWaku)
		cfg0.DirectPeers = []peer.AddrInfo{{ID: hosts[1]}}
		var pids [2]*actor.PID
		for i, cfg := range []router.Config{cfg0, router.DefaultConfig(wire.ProfileWaku)} {
			deps := router.Deps{Host: mn.Host(hosts[i]), Registerer: regs[i]}
			if i == 0 {
				deps.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			pid := sys.Root.Spawn(router.Props(cfg, deps))
			t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
			pids[i] = pid
			probe.Request(pid, &pubsubv1.Join{Topic: "t"})
			probe.ExpectMessage(&pubsubv1.Joined{Topic: "t"})
		}
		sub := actortest.NewProbe(t, sys)
		sub.Request(pids[1], &pubsubv1.Subscribe{Topic: "t"})
		sub.ExpectMessage(&pubsubv1.Subscribed{Topic: "t"})
		if err := mn.ConnectAllButSelf(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for range 3 {
			for _, pid := range pids {
				probe.Send(pid, &heartbeatv1.Tick{Now: timestamppb.Now()})
			}
			synctest.Wait()
		}
		if !strings.Contains(logs.String(), "direct peer sent GRAFT") {
			t.Fatalf("no warning for the direct peer's GRAFT; log: %q", logs.String())
		}
		if got := counter(t, regs[0], "libp2p_gossipsub_behaviour_penalties_total", "reason", "graft_direct"); got < 1 {
			t.Fatalf("GRAFT of the direct peer not penalised (%v)", got)
		}
		probe.Request(pids[0], &pubsubv1.GetMesh{Topic: "t"})
		if m := actortest.Expect[*pubsubv1.Mesh](probe); len(m.GetMesh()) != 0 {
			t.Fatalf("direct peer in the mesh: %v", m)
		}
		probe.Request(pids[0], &pubsubv1.Publish{Topic: "t", Data: []byte("to the direct peer")})
		actortest.Expect[*pubsubv1.Published](probe)
		if d := actortest.Expect[*pubsubv1.Delivered](sub); string(d.GetMessage().GetData()) != "to the direct peer" {
			t.Fatalf("delivered %v", d)
		}
	})
}

// TestDirectPeersOnRealHosts: a and b are each other's direct peer, c is
// connected to a only. On real hosts, a and b never mesh with each other,
// yet b gets what a publishes and what a forwards from c, and a gets what
// b publishes.
func TestDirectPeersOnRealHosts(t *testing.T) {
	ha, hb := newHost(t), newHost(t)
	cfgA, cfgB := router.DefaultConfig(wire.ProfileLibp2p), router.DefaultConfig(wire.ProfileLibp2p)
	cfgA.DirectPeers = []peer.AddrInfo{{ID: hb.ID(), Addrs: hb.Addrs()}}
	cfgB.DirectPeers = []peer.AddrInfo{{ID: ha.ID(), Addrs: ha.Addrs()}}
	a, b, c := newNodeOn(t, ha, cfgA), newNodeOn(t, hb, cfgB), newNode(t, router.DefaultConfig(wire.ProfileLibp2p))
	for _, n := range []*node{a, b, c} {
		n.join(t, "t", nil)
	}
	connect(t, a, b)
	connect(t, c, a)
	eventually(t, 10*time.Second, "subscriptions seen", func() error {
		if got := len(a.mesh(t, "t").GetPeers()); got != 2 {
			return fmt.Errorf("a sees %d topic peers, want 2", got)
		}
		if got := len(b.mesh(t, "t").GetPeers()); got != 1 {
			return fmt.Errorf("b sees %d topic peers, want 1", got)
		}
		return nil
	})
	eventually(t, 10*time.Second, "a and c meshed", func() error {
		for _, n := range []*node{a, b, c} {
			n.tick()
		}
		if m := a.mesh(t, "t").GetMesh(); len(m) != 1 || peer.ID(m[0]) != c.host.ID() {
			return fmt.Errorf("a's mesh %v, want only c", m)
		}
		return nil
	})
	if m := b.mesh(t, "t").GetMesh(); len(m) != 0 {
		t.Fatalf("b meshed with its direct peer: %v", m)
	}
	for _, tt := range []struct {
		name     string
		from, to *node
	}{
		{"a publishes to its direct peer", a, b},
		{"a forwards c's message to its direct peer", c, b},
		{"b publishes to its direct peer", b, a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.name)
			if p := tt.from.request(t, &pubsubv1.Publish{Topic: "t", Data: data}).(*pubsubv1.Published); p.GetError() != "" {
				t.Fatalf("publish: %v", p)
			}
			actortest.Fish(tt.to.sub, func(d *pubsubv1.Delivered) bool { return bytes.Equal(d.GetMessage().GetData(), data) })
		})
	}
	if m := a.mesh(t, "t").GetMesh(); len(m) != 1 || peer.ID(m[0]) != c.host.ID() {
		t.Fatalf("a's mesh %v after the exchange, want only c", m)
	}
}
