package peermanager

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestProtocolMatcher(t *testing.T) {
	match := ProtocolMatcher("/vac/waku/filter/2.0.0")
	tests := []struct {
		proto string
		want  bool
	}{
		{"/vac/waku/filter/2.0.0", true},
		{"/vac/waku/filter/2.0.0-beta3", true},
		{"/vac/waku/filter/2.0.0-actualnonsense", true},
		{"/vac/waku/filter/1.0.0", false},
		{"/vac/waku/filter", false},
		{"/vac/waku/store/2.0.0", false},
	}
	for _, tt := range tests {
		if got := match(tt.proto); got != tt.want {
			t.Errorf("match(%q) = %v, want %v", tt.proto, got, tt.want)
		}
	}
}

func TestCanBeConnected(t *testing.T) {
	now := at(time.Hour)
	tests := []struct {
		name string
		opts []peerOpt
		want bool
	}{
		{"never failed", nil, true},
		{"1 failure, 119 s ago: inside 120 s", []peerOpt{failed(1, 119*time.Second, now)}, false},
		{"1 failure, exactly 120 s ago: boundary is outside", []peerOpt{failed(1, 120*time.Second, now)}, true},
		{"2 failures, 479 s ago", []peerOpt{failed(2, 479*time.Second, now)}, false},
		{"2 failures, 480 s ago", []peerOpt{failed(2, 480*time.Second, now)}, true},
		{"3 failures, 1919 s ago", []peerOpt{failed(3, 1919*time.Second, now)}, false},
		{"4 failures, 7679 s ago", []peerOpt{failed(4, 7679*time.Second, now)}, false},
		{"4 failures, 7680 s ago", []peerOpt{failed(4, 7680*time.Second, now)}, true},
		{"max failed attempts: never again", []peerOpt{failed(5, 30*24*time.Hour, now)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			setPeer(m, 1, tt.opts...)
			if got := m.CanBeConnected(pid(1), now); got != tt.want {
				t.Fatalf("CanBeConnected = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("unknown peer", func(t *testing.T) {
		if newTestManager(t, testConfig()).CanBeConnected(pid(9), now) {
			t.Fatal("unknown peer can be connected")
		}
	})
}

func TestParsePeerInfo(t *testing.T) {
	tests := []struct {
		name    string
		info    *pmv1.PeerInfo
		wantErr string // error type, "" = ok
	}{
		{"multiaddr with /p2p/", &pmv1.PeerInfo{Multiaddr: maddr(1)}, ""},
		{"peer id and binary addresses", &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{addr(1)}}, ""},
		{"both, agreeing", &pmv1.PeerInfo{Multiaddr: maddr(1), PeerId: []byte(pid(1))}, ""},
		{"malformed multiaddr", &pmv1.PeerInfo{Multiaddr: "/ip4/999.1.1.1/tcp/1"}, errInvalidMultiaddr},
		{"multiaddr without /p2p/", &pmv1.PeerInfo{Multiaddr: "/ip4/1.2.3.4/tcp/1"}, errInvalidPeerID},
		{"garbage peer id", &pmv1.PeerInfo{PeerId: []byte("nope")}, errInvalidPeerID},
		{"peer id mismatch with multiaddr", &pmv1.PeerInfo{Multiaddr: maddr(1), PeerId: []byte(pid(2))}, errPeerIDMismatch},
		{"address naming another peer", &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{ma.StringCast(maddr(2)).Bytes()}}, errPeerIDMismatch},
		{"malformed binary address", &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{{0xff, 0xff}}}, errInvalidMultiaddr},
		{"invalid protocol", &pmv1.PeerInfo{Multiaddr: maddr(1), Protocols: []string{"relay"}}, errInvalidProtocol},
		{"nothing", &pmv1.PeerInfo{}, errInvalidPeerID},
		{"nil", nil, errInvalidPeerID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePeerInfo(tt.info)
			if tt.wantErr == "" {
				if err != nil || p.id != pid(1) || len(p.addrs) != 1 {
					t.Fatalf("ParsePeerInfo = %+v, %v; want peer 1 with one address", p, err)
				}
				return
			}
			if err == nil || errorType(err) != tt.wantErr {
				t.Fatalf("ParsePeerInfo error = %v (type %s), want type %s", err, errorType(err), tt.wantErr)
			}
		})
	}
}

func TestAddPeer(t *testing.T) {
	add := func(m *Manager, info *pmv1.PeerInfo, o peerv1.Origin) (*pmv1.PeerAdded, Effects) {
		eff := m.AddPeer(1, &pmv1.AddPeer{Peer: info, Origin: o}, t0)
		return eff.Replies[0].Msg.(*pmv1.PeerAdded), eff
	}
	relayInfo := func(i int) *pmv1.PeerInfo {
		return &pmv1.PeerInfo{Multiaddr: maddr(i), Protocols: []string{WakuRelayCodec}}
	}
	t.Run("a new peer is added and persisted", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		r, eff := add(m, relayInfo(1), peerv1.Origin_ORIGIN_DISCV5)
		if !r.Changed || r.Error != "" || len(eff.Puts) != 1 || m.Len() != 1 {
			t.Fatalf("reply %v, puts %d, len %d", r, len(eff.Puts), m.Len())
		}
		rec := eff.Puts[0]
		if rec.Origin != peerv1.Origin_ORIGIN_DISCV5 || rec.Connectedness != peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED || len(rec.PublicKey) == 0 {
			t.Fatalf("record %v", rec)
		}
	})
	t.Run("unchanged info is a no-op", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		add(m, relayInfo(1), peerv1.Origin_ORIGIN_DISCV5)
		r, eff := add(m, relayInfo(1), peerv1.Origin_ORIGIN_DISCV5)
		if r.Changed || len(eff.Puts) != 0 {
			t.Fatalf("second add changed=%v puts=%d", r.Changed, len(eff.Puts))
		}
	})
	t.Run("new addresses replace the old", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		add(m, relayInfo(1), 0)
		r, _ := add(m, &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{addr(7)}}, 0)
		if !r.Changed || !slices.Equal(m.peers[pid(1)].addrs[0], addr(7)) {
			t.Fatalf("changed=%v addrs=%v", r.Changed, m.peers[pid(1)].addrs)
		}
	})
	t.Run("self is refused with an error and counted", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		r, eff := add(m, relayInfo(self), 0)
		if !strings.Contains(r.Error, "this node") || counted(eff, MetricErrors, errSelf) != 1 || m.Len() != 0 {
			t.Fatalf("reply %v metrics %v", r, eff.Metrics)
		}
	})
	t.Run("malformed multiaddr is an error and counted", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		r, eff := add(m, &pmv1.PeerInfo{Multiaddr: "/ip4/1.2.3/tcp/1"}, 0)
		if r.Error == "" || counted(eff, MetricErrors, errInvalidMultiaddr) != 1 {
			t.Fatalf("reply %v metrics %v", r, eff.Metrics)
		}
	})
	t.Run("a store full of peers it may not evict refuses new peers", func(t *testing.T) {
		c := testConfig()
		c.MaxPeerStoreSize = c.PeerStoreCapacity
		m := newTestManager(t, c)
		for i := 1; i <= c.PeerStoreCapacity; i++ {
			setPeer(m, i, origin(peerv1.Origin_ORIGIN_STATIC))
		}
		r, eff := add(m, relayInfo(100), 0)
		if !strings.Contains(r.Error, "peer store full") || counted(eff, MetricErrors, errStoreFull) != 1 {
			t.Fatalf("reply %v", r)
		}
	})
	t.Run("static origin is never downgraded", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		add(m, relayInfo(1), peerv1.Origin_ORIGIN_STATIC)
		add(m, relayInfo(1), peerv1.Origin_ORIGIN_PX)
		if o := m.peers[pid(1)].origin; o != peerv1.Origin_ORIGIN_STATIC {
			t.Fatalf("origin %v", o)
		}
	})
	t.Run("unchanged info beyond the per-peer bounds is still a no-op", func(t *testing.T) {
		c := testConfig()
		c.MaxAddressesPerPeer, c.MaxProtocolsPerPeer, c.MaxShardsPerPeer = 1, 1, 1
		m := newTestManager(t, c)
		info := &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{addr(1), addr(2)},
			Protocols: []string{WakuRelayCodec, "/vac/waku/store/2.0.0"}, Shards: []uint32{1, 2}}
		if r, eff := add(m, info, 0); !r.Changed || counted(eff, MetricErrors, errTruncated) != 3 {
			t.Fatalf("first add changed=%v metrics %v, want 3 truncations counted", r.Changed, eff.Metrics)
		}
		if r, eff := add(m, info, 0); r.Changed || len(eff.Puts) != 0 || counted(eff, MetricErrors, errTruncated) != 0 {
			t.Fatalf("repeated add changed=%v puts=%d metrics %v", r.Changed, len(eff.Puts), eff.Metrics)
		}
	})
	t.Run("too many addresses are truncated and counted", func(t *testing.T) {
		c := testConfig()
		c.MaxAddressesPerPeer = 2
		m := newTestManager(t, c)
		_, eff := add(m, &pmv1.PeerInfo{PeerId: []byte(pid(1)), Addresses: [][]byte{addr(1), addr(2), addr(3)}}, 0)
		if len(m.peers[pid(1)].addrs) != 2 || counted(eff, MetricErrors, errTruncated) != 1 {
			t.Fatalf("addrs %d", len(m.peers[pid(1)].addrs))
		}
	})
}

func TestConnectToRelayPeers(t *testing.T) {
	now := at(24 * time.Hour)
	// testConfig: out target 10, MaxParallelDials 10.
	tests := []struct {
		name    string
		setup   func(m *Manager)
		cfg     func(*Config)
		want    []int // peers dialed
		ordered bool  // the order of want matters
	}{
		{"no candidates, no dials", func(m *Manager) {}, nil, nil, false},
		{"dials min(candidates, gap): 3 candidates, gap 10", func(m *Manager) {
			for i := 1; i <= 3; i++ {
				setPeer(m, i, relay)
			}
		}, nil, []int{1, 2, 3}, false},
		{"dials min(candidates, gap): 12 candidates, gap 10 − 7 connected = 3", func(m *Manager) {
			for i := 1; i <= 7; i++ {
				setPeer(m, 100+i, relay)
				connect(m, 100+i, out, "", now)
			}
			for i := 1; i <= 12; i++ {
				setPeer(m, i, relay)
			}
		}, nil, []int{-3}, false},
		{"at most MaxParallelDials per round", func(m *Manager) {
			for i := 1; i <= 12; i++ {
				setPeer(m, i, relay)
			}
		}, func(c *Config) { c.MaxParallelDials = 4 }, []int{-4}, false},
		{"target met: no dials", func(m *Manager) {
			for i := 1; i <= 10; i++ {
				setPeer(m, 100+i, relay)
				connect(m, 100+i, out, "", now)
			}
			setPeer(m, 1, relay)
		}, nil, nil, false},
		{"inbound peers do not count toward the outbound target", func(m *Manager) {
			setPeer(m, 101, relay)
			connect(m, 101, in, "", now)
			setPeer(m, 1, relay)
		}, nil, []int{1}, false},
		{"peers known not to speak relay are not candidates", func(m *Manager) {
			setPeer(m, 1, protos("/vac/waku/store/2.0.0"))
			setPeer(m, 2, relay)
		}, nil, []int{2}, false},
		{"peers whose protocols are unknown (peer exchange) are candidates", func(m *Manager) {
			setPeer(m, 1, origin(peerv1.Origin_ORIGIN_PX))
			setPeer(m, 2, relay)
		}, nil, []int{1, 2}, false},
		{"peers inside backoff are skipped", func(m *Manager) {
			setPeer(m, 1, relay, failed(1, time.Minute, now))
			setPeer(m, 2, relay, failed(1, 3*time.Minute, now))
		}, nil, []int{2}, false},
		{"peers a limit disconnected are skipped for PrunedBackoff", func(m *Manager) {
			setPeer(m, 1, relay).prunedAt = now.Add(-time.Minute).UnixNano()
			setPeer(m, 2, relay).prunedAt = now.Add(-2 * time.Minute).UnixNano()
		}, nil, []int{2}, false},
		{"peers at an IP already at the colocation limit are skipped", func(m *Manager) {
			for i := 101; i <= 105; i++ {
				connect(m, i, in, "10.0.0.1", now) // 5, the limit; not relay
			}
			setPeer(m, 1, relay).addrs = [][]byte{ma.StringCast("/ip4/10.0.0.1/tcp/4000").Bytes()}
			setPeer(m, 2, relay)
			// A static peer there is still dialed: the limit spares it.
			setPeer(m, 3, relay, origin(peerv1.Origin_ORIGIN_STATIC)).addrs = [][]byte{ma.StringCast("/ip4/10.0.0.1/tcp/4001").Bytes()}
		}, nil, []int{2, 3}, false},
		{"below the colocation limit, or whitelisted, the IP does not matter", func(m *Manager) {
			for i := 101; i <= 104; i++ {
				connect(m, i, in, "10.0.0.1", now)
			}
			for i := 111; i <= 116; i++ {
				connect(m, i, in, "10.9.0.1", now)
			}
			setPeer(m, 1, relay).addrs = [][]byte{ma.StringCast("/ip4/10.0.0.1/tcp/4000").Bytes()}
			setPeer(m, 2, relay).addrs = [][]byte{ma.StringCast("/ip4/10.9.0.1/tcp/4000").Bytes()}
		}, func(c *Config) { c.ColocationWhitelist = []string{"10.9.0.0/16"}; c.MaxConnections = 20 }, []int{1, 2}, false},
		{"peers at max failures are skipped", func(m *Manager) {
			setPeer(m, 1, relay, failed(5, 100*24*time.Hour, now))
		}, nil, nil, false},
		{"peers without addresses are skipped", func(m *Manager) {
			setPeer(m, 1, relay).addrs = nil
		}, nil, nil, false},
		{"dials in flight count toward the gap and are not repeated", func(m *Manager) {
			for i := 1; i <= 12; i++ {
				setPeer(m, i, relay)
			}
			m.ConnectToRelayPeers(now) // dials 1..10
			setPeer(m, 20, relay)
		}, nil, nil, false},
		{"candidate order: static, fewer failures, known before, oldest failure, id", func(m *Manager) {
			setPeer(m, 1, relay, failed(2, 10*time.Hour, now))
			setPeer(m, 2, relay, failed(1, 5*time.Hour, now))
			setPeer(m, 3, relay, failed(1, 9*time.Hour, now))
			setPeer(m, 4, relay)
			setPeer(m, 5, relay, disconnectedAt(at(time.Hour)))
			setPeer(m, 6, relay, origin(peerv1.Origin_ORIGIN_STATIC), failed(3, 10*time.Hour, now))
		}, func(c *Config) { c.MaxParallelDials = 6 }, []int{6, 5, 4, 3, 2, 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.PeerStoreCapacity = 200
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			m := newTestManager(t, c)
			tt.setup(m)
			got := dialedPeers(m.ConnectToRelayPeers(now))
			if len(tt.want) == 1 && tt.want[0] < 0 { // only the number matters
				if len(got) != -tt.want[0] {
					t.Fatalf("dialed %d peers, want %d", len(got), -tt.want[0])
				}
				return
			}
			want := ids_(tt.want...)
			if !tt.ordered {
				slices.Sort(got)
				slices.Sort(want)
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("dialed %v, want %v", got, want)
			}
		})
	}
	t.Run("not loaded: no dials", func(t *testing.T) {
		m, _ := NewManager(testConfig(), pid(self))
		setPeer(m, 1, relay)
		if d := m.ConnectToRelayPeers(now).Dials; len(d) != 0 {
			t.Fatalf("dials before load: %v", d)
		}
	})
	t.Run("not loaded within LoadTimeout of Start: dials anyway, counted", func(t *testing.T) {
		m, _ := NewManager(testConfig(), pid(self))
		m.Start(now)
		setPeer(m, 1, relay)
		if d := m.ConnectToRelayPeers(now.Add(time.Minute - time.Second)).Dials; len(d) != 0 {
			t.Fatalf("dials before LoadTimeout: %v", d)
		}
		eff := m.ConnectToRelayPeers(now.Add(time.Minute))
		if d := dialedPeers(eff); !slices.Equal(d, ids_(1)) || counted(eff, MetricErrors, errStorageLoad) != 1 || !m.Loaded() {
			t.Fatalf("at LoadTimeout dialed %v, metrics %v, loaded %v", d, eff.Metrics, m.Loaded())
		}
		// Records arriving late still load.
		m.LoadFromStorage(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{relayRecord(2)}})
		if m.Len() != 2 {
			t.Fatalf("late record not loaded: %d peers", m.Len())
		}
	})
}

func TestStopAnswersWaitingRequests(t *testing.T) {
	const store = "/vac/waku/store/2.0.0"
	m := newTestManager(t, testConfig())
	m.ConnectToNodes(1, &pmv1.ConnectToNodes{Nodes: []string{maddr(1), maddr(2)}}, t0)
	m.DialPeer(2, &pmv1.DialPeerRequest{Peer: &pmv1.PeerInfo{Multiaddr: maddr(3)}, Protocol: store}, t0)
	setPeer(m, 4, relay)
	m.ConnectToRelayPeers(t0) // a dial nobody waits for
	eff := m.Stop("peer manager stopping")
	if len(eff.Replies) != 2 {
		t.Fatalf("replies %v, want the batch and the dial request", eff.Replies)
	}
	for _, r := range eff.Replies {
		switch msg := r.Msg.(type) {
		case *pmv1.NodesConnected:
			if r.Token != 1 || msg.Connected != 0 || !strings.Contains(msg.Results[0].Error, "stopping") || !strings.Contains(msg.Results[1].Error, "stopping") {
				t.Fatalf("batch answer %v", msg)
			}
		case *pmv1.DialPeerResponse:
			if r.Token != 2 || msg.Outcome != dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED || !strings.Contains(msg.Error, "stopping") {
				t.Fatalf("dial answer %v", msg)
			}
		default:
			t.Fatalf("unexpected %T", msg)
		}
	}
	if dials, waiters := m.Pending(); dials != 0 || waiters != 0 {
		t.Fatalf("pending dials %d waiters %d after Stop", dials, waiters)
	}
	for _, e := range m.list {
		if e.failedAttempts != 0 {
			t.Fatalf("Stop counted a failure for %s", e.id)
		}
	}
}

func TestOnDialCompleted(t *testing.T) {
	now := at(time.Hour)
	done := func(m *Manager, i int, o dialerv1.DialOutcome) Effects {
		return m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(i)), Outcome: o, Reason: "test"}, now)
	}
	online := func(m *Manager) { setPeer(m, 50, relay); connect(m, 50, out, "", now) }
	tests := []struct {
		name         string
		setup        func(m *Manager)
		outcome      dialerv1.DialOutcome
		wantFailures uint32
		wantConn     peerv1.Connectedness
	}{
		{"a failure counts, stamps and marks CannotConnect", online, dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT, 1, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT},
		{"refused counts too", online, dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED, 1, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT},
		{"offline (no route, no connection): not counted", func(*Manager) {}, dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE, 0, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED},
		{"isolated (no connection, the peer times out): counted", func(*Manager) {}, dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT, 1, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT},
		{"no route while other peers are connected: counted", online, dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE, 1, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT},
		{"rejected by the pool is not the peer's fault", online, dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED, 0, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED},
		{"cancelled is not counted", online, dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, 0, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED},
		{"success resets the failure count", func(m *Manager) {
			online(m)
			m.peers[pid(1)].failedAttempts = 4
		}, dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED, 0, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			setPeer(m, 1, relay)
			tt.setup(m)
			m.ConnectToRelayPeers(now)
			eff := done(m, 1, tt.outcome)
			e := m.peers[pid(1)]
			if e.failedAttempts != tt.wantFailures || e.connectedness != tt.wantConn {
				t.Fatalf("failures %d connectedness %v, want %d %v", e.failedAttempts, e.connectedness, tt.wantFailures, tt.wantConn)
			}
			if tt.wantFailures > 0 && (len(eff.Puts) != 1 || eff.Puts[0].LastFailureTime.AsTime() != now) {
				t.Fatalf("failure not persisted with its time: %v", eff.Puts)
			}
			if m.isDialing(pid(1)) {
				t.Fatal("dial still pending")
			}
		})
	}
	t.Run("consecutive failures follow the backoff schedule", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		online(m)
		setPeer(m, 1, relay)
		clock := now
		for n, wait := range []time.Duration{120 * time.Second, 480 * time.Second, 1920 * time.Second, 7680 * time.Second} {
			if d := dialedPeers(m.ConnectToRelayPeers(clock)); !slices.Contains(d, pid(1)) {
				t.Fatalf("attempt %d: not dialed at %s", n+1, clock.Sub(now))
			}
			m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, clock)
			if d := dialedPeers(m.ConnectToRelayPeers(clock.Add(wait - time.Second))); slices.Contains(d, pid(1)) {
				t.Fatalf("after %d failures: dialed %s early", n+1, time.Second)
			}
			clock = clock.Add(wait)
		}
		m.ConnectToRelayPeers(clock)
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, clock)
		if d := dialedPeers(m.ConnectToRelayPeers(clock.Add(30 * 24 * time.Hour))); slices.Contains(d, pid(1)) {
			t.Fatal("dialed after MaxFailedAttempts")
		}
	})
}

func TestColocation(t *testing.T) {
	now := at(time.Hour)
	tests := []struct {
		name  string
		cfg   func(*Config)
		setup func(m *Manager)
		want  []int // disconnected
	}{
		{"within the limit: nothing", nil, func(m *Manager) {
			for i := 1; i <= 3; i++ {
				connect(m, i, in, "1.2.3.4", now.Add(time.Duration(i)*time.Second))
			}
		}, nil},
		{"beyond the limit: the newest is disconnected", nil, func(m *Manager) {
			for i := 1; i <= 4; i++ {
				connect(m, i, in, "1.2.3.4", now.Add(time.Duration(i)*time.Second))
			}
		}, []int{4}},
		{"other IPs do not count", nil, func(m *Manager) {
			for i := 1; i <= 3; i++ {
				connect(m, i, in, "1.2.3.4", now)
			}
			connect(m, 4, in, "5.6.7.8", now)
		}, nil},
		{"0 disables the limit", func(c *Config) { c.ColocationLimit = 0 }, func(m *Manager) {
			for i := 1; i <= 6; i++ {
				connect(m, i, in, "1.2.3.4", now)
			}
		}, nil},
		{"whitelisted IPs are exempt", func(c *Config) { c.ColocationWhitelist = []string{"1.2.0.0/16"} }, func(m *Manager) {
			for i := 1; i <= 6; i++ {
				connect(m, i, in, "1.2.3.4", now)
			}
		}, nil},
		{"protected (static) peers are spared; the next newest goes", nil, func(m *Manager) {
			for i := 1; i <= 3; i++ {
				connect(m, i, in, "1.2.3.4", now.Add(time.Duration(i)*time.Second))
			}
			setPeer(m, 4, origin(peerv1.Origin_ORIGIN_STATIC))
			connect(m, 4, in, "1.2.3.4", now.Add(10*time.Second))
		}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.ColocationLimit = 3
			c.MaxConnections, c.PeerStoreCapacity = 50, 250
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			m := newTestManager(t, c)
			tt.setup(m)
			assertClosing(t, m, tt.want...)
			for _, id := range ids_(tt.want...) {
				if m.peers[id] == nil {
					t.Fatalf("record of %s deleted; it must be kept", id)
				}
			}
		})
	}
}

// assertClosing checks the set of peers the manager has disconnected.
func assertClosing(t *testing.T, m *Manager, want ...int) {
	t.Helper()
	var got []peer.ID
	for id := range m.closing {
		got = append(got, id)
	}
	slices.Sort(got)
	w := ids_(want...)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Fatalf("disconnected %v, want %v", got, w)
	}
}

func TestPruneInRelayConns(t *testing.T) {
	now := at(time.Hour)
	// testConfig: inbound relay target 2.
	tests := []struct {
		name  string
		setup func(m *Manager)
		want  []int
	}{
		{"at the inbound target: nothing", func(m *Manager) {
			for i := 1; i <= 2; i++ {
				setPeer(m, i, relay)
				connect(m, i, in, "", now.Add(time.Duration(i)*time.Second))
			}
		}, nil},
		{"beyond it: the newest inbound relay peer goes on join", func(m *Manager) {
			for i := 1; i <= 3; i++ {
				setPeer(m, i, relay)
				connect(m, i, in, "", now.Add(time.Duration(i)*time.Second))
			}
		}, []int{3}},
		{"non-relay inbound peers do not count", func(m *Manager) {
			for i := 1; i <= 3; i++ {
				setPeer(m, i, protos("/vac/waku/store/2.0.0"))
				connect(m, i, in, "", now)
			}
		}, nil},
		{"mesh peers are protected; the next lowest value goes", func(m *Manager) {
			m.MeshPeersChanged(&pmv1.MeshPeersChanged{PeerIds: [][]byte{[]byte(pid(3))}})
			for i := 1; i <= 3; i++ {
				setPeer(m, i, relay)
				connect(m, i, in, "", now.Add(time.Duration(i)*time.Second))
			}
		}, []int{2}},
		{"service-slot peers are protected", func(m *Manager) {
			m.slots["/vac/waku/store/2.0.0"] = pid(3)
			for i := 1; i <= 3; i++ {
				setPeer(m, i, relay)
				connect(m, i, in, "", now.Add(time.Duration(i)*time.Second))
			}
		}, []int{2}},
		{"identify revealing relay triggers the check", func(m *Manager) {
			for i := 1; i <= 3; i++ {
				connect(m, i, in, "", now.Add(time.Duration(i)*time.Second))
				m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(pid(i)), Protocols: []string{WakuRelayCodec}}, now)
			}
		}, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			tt.setup(m)
			assertClosing(t, m, tt.want...)
		})
	}
}

func TestMaxConnections(t *testing.T) {
	now := at(time.Hour)
	c := testConfig()
	c.MaxConnections, c.ColocationLimit = 15, 0
	m := newTestManager(t, c)
	m.MeshPeersChanged(&pmv1.MeshPeersChanged{PeerIds: [][]byte{[]byte(pid(17))}})
	for i := 1; i <= 17; i++ {
		connect(m, i, in, "", now)
	}
	// 16 is beyond 15 and unprotected; 17 is a mesh peer.
	assertClosing(t, m, 16)
}

func TestPeerEvents(t *testing.T) {
	now := at(time.Hour)
	t.Run("connect then disconnect stamps the disconnect time and persists", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		setPeer(m, 1, relay)
		eff := connect(m, 1, out, "1.2.3.4", now)
		if len(eff.Puts) != 1 || eff.Puts[0].Connectedness != peerv1.Connectedness_CONNECTEDNESS_CONNECTED || eff.Puts[0].Direction != out {
			t.Fatalf("puts %v", eff.Puts)
		}
		eff = m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now.Add(time.Minute))
		rec := eff.Puts[0]
		if rec.Connectedness != peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT || rec.DisconnectTime.AsTime() != now.Add(time.Minute) || len(m.ipTable) != 0 {
			t.Fatalf("record %v ipTable %v", rec, m.ipTable)
		}
	})
	t.Run("a relay peer leaving below the outbound target kicks a round", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		setPeer(m, 1, relay)
		connect(m, 1, out, "", now)
		if eff := m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now); !eff.Kick {
			t.Fatal("no kick")
		}
	})
	t.Run("a non-relay peer leaving does not kick", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		connect(m, 1, out, "", now)
		if eff := m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now); eff.Kick {
			t.Fatal("kick")
		}
	})
	t.Run("kicks are debounced beyond MaxParallelDials quick ones per interval", func(t *testing.T) {
		c := testConfig()
		c.MaxParallelDials = 2
		m := newTestManager(t, c)
		m.ConnectToRelayPeers(now)
		for k := range 10 {
			setPeer(m, 10+k, relay)
		}
		// Two quick kicks (peers refusing at once) run at once, the third
		// within the debounce waits for the next tick.
		for k := range 2 {
			if d := dialedPeers(m.Kick(now.Add(time.Duration(k+1) * 100 * time.Millisecond))); len(d) != 2 {
				t.Fatalf("quick kick %d dialed %v, want a round's 2", k, d)
			}
		}
		if d := m.Kick(now.Add(300 * time.Millisecond)).Dials; len(d) != 0 {
			t.Fatalf("a third kick within the debounce dialed %v", d)
		}
		if d := dialedPeers(m.Kick(now.Add(1300 * time.Millisecond))); len(d) != 2 {
			t.Fatalf("kick after the debounce dialed %v", d)
		}
	})
	t.Run("a duplicate disconnect is ignored", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		if eff := m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now); !eff.Empty() {
			t.Fatalf("effects %+v", eff)
		}
	})
	t.Run("a bad peer id in an event is counted, not a crash", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		eff := m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte("x")}, now)
		if counted(eff, MetricErrors, errInvalidPeerID) != 1 {
			t.Fatalf("metrics %v", eff.Metrics)
		}
	})
	t.Run("identify records protocols, agent and version", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		connect(m, 1, in, "", now)
		m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(pid(1)), Protocols: []string{WakuRelayCodec, "bad"},
			Agent: "nwaku", ProtocolVersion: "p2p/1", ListenAddrs: [][]byte{addr(1)}}, now)
		e := m.peers[pid(1)]
		if !e.relay || e.agent != "nwaku" || e.protoVersion != "p2p/1" || len(e.protocols) != 1 || len(e.addrs) != 1 {
			t.Fatalf("entry %+v", e)
		}
	})
}

func TestPrunePeerStore(t *testing.T) {
	now := at(48 * time.Hour)
	c := testConfig()
	c.PeerStoreCapacity, c.MaxConnections = 16, 15
	tests := []struct {
		name    string
		setup   func(m *Manager) // fills beyond 16
		want    []int            // deleted
		ordered bool
	}{
		{"within capacity: nothing", func(m *Manager) {
			for i := 1; i <= 16; i++ {
				setPeer(m, i)
			}
		}, nil, false},
		{"peers at max failures go first", func(m *Manager) {
			for i := 1; i <= 16; i++ {
				setPeer(m, i)
			}
			setPeer(m, 17, failed(5, time.Hour, now))
			setPeer(m, 18, failed(5, 2*time.Hour, now))
		}, []int{18, 17}, true},
		{"then not-connected peers: most failures, never connected, longest gone", func(m *Manager) {
			for i := 1; i <= 13; i++ {
				setPeer(m, i, disconnectedAt(at(time.Hour+time.Duration(i)*time.Minute)))
			}
			setPeer(m, 14, failed(2, time.Hour, now))
			setPeer(m, 15) // never connected
			setPeer(m, 16, disconnectedAt(at(0)))
			setPeer(m, 17, disconnectedAt(at(time.Minute)))
			setPeer(m, 18, disconnectedAt(at(2*time.Minute)))
		}, []int{14, 15}, true},
		{"connected, static, service-slot and mesh peers are never pruned", func(m *Manager) {
			for i := 1; i <= 20; i++ {
				setPeer(m, i, failed(5, time.Hour, now))
			}
			for i := 1; i <= 14; i++ {
				connect(m, i, out, "", now)
			}
			m.peers[pid(15)].origin, m.peers[pid(15)].static = peerv1.Origin_ORIGIN_STATIC, true
			m.slots["/vac/waku/store/2.0.0"] = pid(16)
			m.mesh[pid(17)] = struct{}{}
		}, []int{18, 19, 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, c)
			tt.setup(m)
			eff := m.PrunePeerStore(now)
			got, want := eff.Deletes, ids_(tt.want...)
			if !tt.ordered {
				got = slices.Sorted(slices.Values(got))
				slices.Sort(want)
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("deleted %v, want %v", eff.Deletes, ids_(tt.want...))
			}
			for _, id := range eff.Deletes {
				if m.peers[id] != nil {
					t.Fatalf("%s still in the books", id)
				}
			}
			if len(m.list) != len(m.peers) {
				t.Fatalf("list %d entries, map %d", len(m.list), len(m.peers))
			}
			for i, e := range m.list {
				if int(e.idx) != i || m.peers[e.id] != e {
					t.Fatalf("list entry %d inconsistent (idx %d)", i, e.idx)
				}
			}
		})
	}
}

func TestSelectPeer(t *testing.T) {
	const store = "/vac/waku/store/2.0.0"
	tests := []struct {
		name  string
		setup func(m *Manager)
		proto string
		shard *uint32
		want  int // -1 = none
	}{
		{"no peer: none", func(m *Manager) {}, store, nil, -1},
		{"a peer supporting the protocol (prefix match)", func(m *Manager) {
			setPeer(m, 1, protos(store+"-beta"))
		}, store, nil, 1},
		{"connected peers are preferred", func(m *Manager) {
			setPeer(m, 1, protos(store))
			setPeer(m, 2, protos(store))
			connect(m, 2, out, "", t0)
		}, store, nil, 2},
		{"the service slot wins", func(m *Manager) {
			setPeer(m, 1, protos(store))
			connect(m, 1, out, "", t0)
			setPeer(m, 2)
			m.slots[store] = pid(2)
		}, store, nil, 2},
		{"relay ignores slots", func(m *Manager) {
			setPeer(m, 1, relay)
			m.slots[WakuRelayCodec] = pid(2)
		}, WakuRelayCodec, nil, 1},
		{"the shard filters", func(m *Manager) {
			setPeer(m, 1, protos(store), shards(1))
			setPeer(m, 2, protos(store), shards(2, 3))
		}, store, ptr(uint32(3)), 2},
		{"no peer on the shard: none", func(m *Manager) {
			setPeer(m, 1, protos(store), shards(1))
		}, store, ptr(uint32(3)), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			tt.setup(m)
			got := m.SelectPeer(tt.proto, tt.shard)
			if tt.want < 0 {
				if got != nil {
					t.Fatalf("selected %v, want none", got)
				}
				return
			}
			if got == nil || peer.ID(got.PeerId) != pid(tt.want) {
				t.Fatalf("selected %v, want %s", got, pid(tt.want))
			}
		})
	}
	t.Run("none is an unknown_protocol error in the answer", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		eff := m.HandleSelectPeer(7, &pmv1.SelectPeer{Protocol: "/unknown/1"})
		r := eff.Replies[0].Msg.(*pmv1.PeerSelected)
		if !strings.Contains(r.Error, "no peer found") || counted(eff, MetricErrors, errUnknownProtocol) != 1 {
			t.Fatalf("reply %v", r)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestAddServicePeer(t *testing.T) {
	const store = "/vac/waku/store/2.0.0"
	tests := []struct {
		name    string
		proto   string
		info    *pmv1.PeerInfo
		wantErr string
	}{
		{"sets the slot", store, &pmv1.PeerInfo{Multiaddr: maddr(1)}, ""},
		{"relay is refused", WakuRelayCodec, &pmv1.PeerInfo{Multiaddr: maddr(1)}, errRelayCodec},
		{"an invalid protocol is refused", "store", &pmv1.PeerInfo{Multiaddr: maddr(1)}, errInvalidProtocol},
		{"self is refused", store, &pmv1.PeerInfo{Multiaddr: maddr(self)}, errSelf},
		{"a malformed multiaddr is refused", store, &pmv1.PeerInfo{Multiaddr: "/dns4"}, errInvalidMultiaddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			eff := m.AddServicePeer(3, &pmv1.AddServicePeer{Peer: tt.info, Protocol: tt.proto}, t0)
			r := eff.Replies[0].Msg.(*pmv1.ServicePeerAdded)
			if tt.wantErr != "" {
				if r.Error == "" || counted(eff, MetricErrors, tt.wantErr) != 1 || len(m.slots) != 0 {
					t.Fatalf("reply %v metrics %v", r, eff.Metrics)
				}
				return
			}
			if r.Error != "" || m.slots[store] != pid(1) || m.peers[pid(1)].origin != peerv1.Origin_ORIGIN_SERVICE {
				t.Fatalf("reply %v slots %v", r, m.slots)
			}
			if op := eff.Metrics[len(eff.Metrics)-1]; op.Name != MetricServicePeers || !op.Set || op.Labels[0] != store {
				t.Fatalf("metric %+v", op)
			}
		})
	}
}

func TestConnectToNodes(t *testing.T) {
	m := newTestManager(t, testConfig())
	eff := m.ConnectToNodes(9, &pmv1.ConnectToNodes{Nodes: []string{maddr(1), "/ip4/1.2.3.4/tcp/x", maddr(2), maddr(self)}}, t0)
	if d := dialedPeers(eff); !slices.Equal(d, ids_(1, 2)) {
		t.Fatalf("dialed %v, want 1 and 2 (the others are bad)", d)
	}
	if len(eff.Replies) != 0 {
		t.Fatal("answered before the dials completed")
	}
	if counted(eff, MetricErrors, errInvalidMultiaddr) != 1 || counted(eff, MetricErrors, errSelf) != 1 {
		t.Fatalf("metrics %v", eff.Metrics)
	}
	if eff.Dials[0].Source != dialerv1.DialSource_DIAL_SOURCE_STATIC || m.peers[pid(1)].origin != peerv1.Origin_ORIGIN_STATIC {
		t.Fatalf("source %v origin %v", eff.Dials[0].Source, m.peers[pid(1)].origin)
	}
	m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, t0)
	eff = m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(2)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT, Reason: "slow"}, t0)
	if len(eff.Replies) != 1 || eff.Replies[0].Token != 9 {
		t.Fatalf("replies %v", eff.Replies)
	}
	r := eff.Replies[0].Msg.(*pmv1.NodesConnected)
	if r.Attempted != 4 || r.Connected != 1 || !r.Results[0].Connected || r.Results[1].Error == "" ||
		!strings.Contains(r.Results[2].Error, "slow") || r.Results[3].Error == "" {
		t.Fatalf("answer %v", r)
	}
	if m.waiters != 0 {
		t.Fatalf("waiters left: %d", m.waiters)
	}
	t.Run("only bad nodes: answered at once", func(t *testing.T) {
		m := newTestManager(t, testConfig())
		eff := m.ConnectToNodes(9, &pmv1.ConnectToNodes{Nodes: []string{"garbage"}}, t0)
		if len(eff.Replies) != 1 || eff.Replies[0].Msg.(*pmv1.NodesConnected).Results[0].Error == "" {
			t.Fatalf("replies %v", eff.Replies)
		}
	})
	t.Run("too many pending requests: refused", func(t *testing.T) {
		c := testConfig()
		c.MaxPendingRequests = 1
		m := newTestManager(t, c)
		eff := m.ConnectToNodes(9, &pmv1.ConnectToNodes{Nodes: []string{maddr(1), maddr(2)}}, t0)
		if r := eff.Replies[0].Msg.(*pmv1.NodesConnected); !strings.Contains(r.Error, "MaxPendingRequests") || len(eff.Dials) != 0 {
			t.Fatalf("reply %v", r)
		}
	})
}

func TestDialPeer(t *testing.T) {
	const store = "/vac/waku/store/2.0.0"
	tests := []struct {
		name    string
		info    *pmv1.PeerInfo
		proto   string
		wantErr string
	}{
		{"dials with the protocol", &pmv1.PeerInfo{Multiaddr: maddr(1)}, store, ""},
		{"relay codec refused", &pmv1.PeerInfo{Multiaddr: maddr(1)}, WakuRelayCodec, errRelayCodec},
		{"versioned relay codec refused", &pmv1.PeerInfo{Multiaddr: maddr(1)}, WakuRelayCodec + "-x", errRelayCodec},
		{"self refused", &pmv1.PeerInfo{Multiaddr: maddr(self)}, store, errSelf},
		{"invalid protocol refused", &pmv1.PeerInfo{Multiaddr: maddr(1)}, "", errInvalidProtocol},
		{"unknown peer without addresses refused", &pmv1.PeerInfo{PeerId: []byte(pid(5))}, store, errUnknownPeer},
		{"peer id mismatch refused", &pmv1.PeerInfo{Multiaddr: maddr(1), PeerId: []byte(pid(2))}, store, errPeerIDMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, testConfig())
			eff := m.DialPeer(4, &pmv1.DialPeerRequest{Peer: tt.info, Protocol: tt.proto}, t0)
			if tt.wantErr != "" {
				r := eff.Replies[0].Msg.(*pmv1.DialPeerResponse)
				if r.Error == "" || counted(eff, MetricErrors, tt.wantErr) != 1 || len(eff.Dials) != 0 {
					t.Fatalf("reply %v metrics %v", r, eff.Metrics)
				}
				return
			}
			if len(eff.Dials) != 1 || eff.Dials[0].Protocol != store || len(eff.Replies) != 0 {
				t.Fatalf("effects %+v", eff)
			}
			// A failed protocol dial is answered but does not touch backoff.
			setPeer(m, 50, relay)
			connect(m, 50, out, "", t0)
			eff = m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Protocol: store,
				Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED, Reason: "protocol not supported"}, t0)
			r := eff.Replies[0].Msg.(*pmv1.DialPeerResponse)
			if r.Outcome != dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED || !strings.Contains(r.Error, "not supported") || m.peers[pid(1)].failedAttempts != 0 {
				t.Fatalf("reply %v failures %d", r, m.peers[pid(1)].failedAttempts)
			}
		})
	}
}

func TestLoadFromStorage(t *testing.T) {
	now := at(time.Hour)
	m, _ := NewManager(testConfig(), pid(self))
	stored := &entry{id: pid(1), addrs: [][]byte{addr(1)}, protocols: []string{WakuRelayCodec},
		origin: peerv1.Origin_ORIGIN_DISCV5, connectedness: peerv1.Connectedness_CONNECTEDNESS_CONNECTED,
		direction: out, failedAttempts: 2, lastFailure: now.Add(-time.Minute).UnixNano(), disconnectTime: now.Add(-time.Hour).UnixNano()}
	selfRec := &entry{id: pid(self)}
	eff := m.LoadFromStorage(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{
		stored.toRecord(), selfRec.toRecord(), {PeerId: []byte("garbage")},
	}})
	if counted(eff, MetricErrors, errStorageLoad) != 1 || m.Len() != 1 {
		t.Fatalf("len %d metrics %v", m.Len(), eff.Metrics)
	}
	e := m.peers[pid(1)]
	// History is kept (issue 10, item 7): the origin, and a peer recorded
	// connected (a crash) was reachable: CanConnect.
	if e.connectedness != peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT || e.direction != peerv1.Direction_DIRECTION_UNSPECIFIED ||
		e.origin != peerv1.Origin_ORIGIN_DISCV5 || e.failedAttempts != 2 || !e.relay || e.disconnectTime != stored.disconnectTime || !e.fromStore {
		t.Fatalf("loaded entry %+v", e)
	}
	if len(m.ConnectToRelayPeers(now).Dials) != 0 {
		t.Fatal("dialed before LoadCompleted")
	}
	m.LoadCompleted(&storagev1.LoadCompleted{Loaded: 1})
	if len(m.ConnectToRelayPeers(now).Dials) != 0 {
		t.Fatal("dialed inside the persisted backoff (2 failures, 1 min ago)")
	}
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(8 * time.Minute))); !slices.Equal(d, ids_(1)) {
		t.Fatalf("after the backoff dialed %v", d)
	}
}

func TestReconnectPeers(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	cache := func(e *entry) { e.fromStore, e.origin = true, peerv1.Origin_ORIGIN_PX } // loaded, origin kept
	setPeer(m, 1, cache, relay, disconnectedAt(now.Add(-2*time.Minute)))              // gone long enough
	setPeer(m, 2, cache, relay, disconnectedAt(now.Add(-10*time.Second)))             // still in its wait
	setPeer(m, 3, cache, relay, failed(1, time.Second, now))                          // in failure backoff
	setPeer(m, 4, cache, protos("/vac/waku/store/2.0.0"))                             // other protocol
	setPeer(m, 5, cache, relay)                                                       // never connected: left to the rounds (F16)
	setPeer(m, 6, relay)                                                              // not from storage
	eff := m.ReconnectPeers(1, &pmv1.ReconnectPeers{Protocol: WakuRelayCodec, Backoff: durationpb.New(time.Minute)}, now)
	r := eff.Replies[0].Msg.(*pmv1.ReconnectStarted)
	if d := dialedPeers(eff); !slices.Equal(d, ids_(1)) {
		t.Fatalf("dialed %v", d)
	}
	if r.Dialing != 1 || r.Deferred != 1 {
		t.Fatalf("answer %v", r)
	}
	// The deferred peer is dialed by the first round after its wait, whatever the target.
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(49 * time.Second))); slices.Contains(d, pid(2)) {
		t.Fatal("deferred peer dialed early")
	}
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(50 * time.Second))); !slices.Contains(d, pid(2)) {
		t.Fatalf("deferred peer not dialed when due: %v", d)
	}
}

func TestConnectedPeers(t *testing.T) {
	const store = "/vac/waku/store/2.0.0"
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, relay)
	connect(m, 1, out, "", now)
	setPeer(m, 2, relay)
	connect(m, 2, in, "", now)
	setPeer(m, 3, protos(store+"-beta"))
	connect(m, 3, in, "", now)
	setPeer(m, 4, relay) // known, not connected
	setPeer(m, 5, protos(store))
	connect(m, 5, out, "", now)
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(5))}, now)
	tests := []struct {
		name    string
		proto   string
		in, out []int
	}{
		{"relay peers by direction; not-connected peers left out", WakuRelayCodec, []int{2}, []int{1}},
		{"prefix match of a versioned codec; a peer that left is left out", store, []int{3}, nil},
		{"no peer supports it", "/vac/waku/lightpush/2.0.0", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotIn, gotOut := m.ConnectedPeers(tt.proto)
			wantIn, wantOut := ids_(tt.in...), ids_(tt.out...)
			slices.Sort(wantIn)
			slices.Sort(wantOut)
			if !slices.Equal(gotIn, wantIn) && len(gotIn)+len(wantIn) > 0 || !slices.Equal(gotOut, wantOut) && len(gotOut)+len(wantOut) > 0 {
				t.Fatalf("in %v out %v, want in %v out %v", gotIn, gotOut, wantIn, wantOut)
			}
		})
	}
}

func TestStatusAndLogAndMetrics(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, relay)
	connect(m, 1, out, "", now)
	setPeer(m, 2, relay)
	connect(m, 2, in, "", now)
	setPeer(m, 3, relay, failed(1, time.Second, now))
	setPeer(m, 4, relay)
	st := m.Status(now)
	if st.OutRelayPeers != 1 || st.InRelayPeers != 1 || st.OutRelayTarget != 10 || st.InRelayTarget != 2 ||
		st.Connected != 2 || st.NotConnected != 2 || st.OutsideBackoff != 1 || st.PeerStoreSize != 4 {
		t.Fatalf("status %v", st)
	}
	eff, protos := m.LogAndMetrics(now)
	if !slices.Equal(protos, []string{WakuRelayCodec}) || len(eff.Logs) != 1 || !strings.Contains(eff.Logs[0].Msg, "relay peer connections") {
		t.Fatalf("protos %v logs %v", protos, eff.Logs)
	}
	// The seed's status line: in x/target, out x/target, total x/max, not
	// connected, outside backoff.
	line := fmt.Sprint(eff.Logs[0].Args...)
	for _, want := range []string{"inRelayConns1/2", "outRelayConns1/10", "totalConnections2/15", "notConnectedPeers2", "outsideBackoffPeers1"} {
		if !strings.Contains(line, want) {
			t.Fatalf("status line %q lacks %q", line, want)
		}
	}
	if op := eff.Metrics[0]; op.Name != MetricStoreSize || op.Value != 4 || !op.Set {
		t.Fatalf("store size op %+v", op)
	}
	var inOut []string
	for _, op := range eff.Metrics {
		if op.Name == MetricConnectedPeers && op.Set {
			inOut = append(inOut, op.Labels[0])
		}
	}
	if !slices.Equal(inOut, []string{"In", "Out"}) {
		t.Fatalf("connected gauges %v", inOut)
	}
}

func TestInternerIsBounded(t *testing.T) {
	c := testConfig()
	c.MaxInternedStrings = 2
	m := newTestManager(t, c)
	setPeer(m, 1)
	m.AddPeer(1, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{PeerId: []byte(pid(1)), Protocols: []string{"/a/1", "/b/1", "/c/1"}}}, t0)
	if m.Interned() != 2 {
		t.Fatalf("%d strings interned, want the bound 2", m.Interned())
	}
	if got := m.peers[pid(1)].protocols; !slices.Equal(got, []string{"/a/1", "/b/1", "/c/1"}) {
		t.Fatalf("protocols %v: a string beyond the bound must still be kept, unshared", got)
	}
}

// TestPXPeersAreDialedAndIdentifyDecides (issue 10, item 1): peers that peer
// exchange brings come without protocols. Every one of them is dialed
// within ⌈20/10⌉ rounds; one that identify shows to speak relay is kept, one
// that does not is disconnected, its protocols recorded, and never dialed
// for relay again.
func TestPXPeersAreDialedAndIdentifyDecides(t *testing.T) {
	now := at(time.Hour)
	c := testConfig()
	c.PeerStoreCapacity = 200
	m := newTestManager(t, c)
	var eff Effects
	for i := 1; i <= 20; i++ {
		eff = m.AddPeer(0, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{PeerId: []byte(pid(i)), Addresses: [][]byte{addr(i)}},
			Origin: peerv1.Origin_ORIGIN_PX}, now)
		if len(eff.Puts) != 1 {
			t.Fatalf("px peer %d not added: %v", i, eff.Logs)
		}
	}
	first := dialedPeers(m.ConnectToRelayPeers(now))
	if len(first) != 10 {
		t.Fatalf("first round dialed %d px peers, want 10 (the target and MaxParallelDials)", len(first))
	}
	// Every dial fails but the first two: the next round (after the
	// backoff) dials the ten others, so all 20 were tried in 2 rounds.
	for k, id := range first {
		outcome := dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT
		if k < 2 {
			outcome = dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED
			m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(id), Direction: out}, now)
		}
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: outcome}, now)
	}
	relayPeer, storePeer := first[0], first[1]
	m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(relayPeer), Protocols: []string{WakuRelayCodec}}, now)
	eff = m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(storePeer), Protocols: []string{"/vac/waku/store/2.0.0"}}, now)
	if len(eff.Puts) != 1 || !slices.Equal(eff.Puts[0].Protocols, []string{"/vac/waku/store/2.0.0"}) {
		t.Fatalf("protocols not recorded: %v", eff.Puts)
	}
	// Identify push may still bring relay (a peer that had just started):
	// the first round NotRelayGrace later disconnects it.
	if len(eff.Disconnects) != 0 {
		t.Fatalf("disconnected at identify, before the grace: %v", eff.Disconnects)
	}
	eff = m.ConnectToRelayPeers(now.Add(NotRelayGrace))
	if len(eff.Disconnects) != 1 || eff.Disconnects[0].Peer != storePeer || eff.Disconnects[0].Reason != "not_relay" {
		t.Fatalf("round after the grace: disconnects %v, want the store-only peer for not_relay", eff.Disconnects)
	}
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(storePeer)}, now.Add(NotRelayGrace))
	// That second round: eight dials had failed, so it searched, racing
	// more than its gap.
	second := dialedPeers(eff)
	if len(second) != 10 {
		t.Fatalf("second round dialed %d, want the 10 untried peers", len(second))
	}
	tried := map[peer.ID]bool{}
	for _, id := range append(first, second...) {
		tried[id] = true
	}
	if len(tried) != 20 {
		t.Fatalf("%d distinct px peers tried in two rounds, want all 20", len(tried))
	}
	if slices.Contains(second, storePeer) {
		t.Fatal("a peer known not to speak relay was dialed for relay again")
	}
	// Much later, everything outside backoff: still never the store peer.
	for _, id := range second {
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, now)
	}
	if later := dialedPeers(m.ConnectToRelayPeers(now.Add(time.Hour))); slices.Contains(later, storePeer) || slices.Contains(later, relayPeer) {
		t.Fatalf("later round dialed %v", later)
	}
	if !m.peers[relayPeer].isConnected() {
		t.Fatal("the relay px peer was not kept")
	}
}

// TestStaticPeersAreKeptConnected (issue 10, item 2): a static node whose
// first dial fails (it starts later) is redialed by the connectivity rounds
// whatever its failure count, with a backoff of 10 s, 40 s and then at most
// 2 min, even when the outbound target is met; one that leaves is redialed
// at once.
func TestStaticPeersAreKeptConnected(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	for i := 101; i <= 110; i++ { // the outbound target of 10 is met
		setPeer(m, i, relay)
		connect(m, i, out, "", now)
	}
	eff := m.ConnectToNodes(1, &pmv1.ConnectToNodes{Nodes: []string{maddr(1)}}, now)
	if d := dialedPeers(eff); !slices.Equal(d, ids_(1)) {
		t.Fatalf("ConnectToNodes dialed %v", d)
	}
	fail := func(at time.Time) {
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED}, at)
	}
	fail(now)
	clock := now
	for n, wait := range []time.Duration{10 * time.Second, 40 * time.Second, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute} {
		if d := dialedPeers(m.ConnectToRelayPeers(clock.Add(wait - time.Second))); slices.Contains(d, pid(1)) {
			t.Fatalf("after %d failures: redialed before its %s backoff", n+1, wait)
		}
		clock = clock.Add(wait)
		if d := dialedPeers(m.ConnectToRelayPeers(clock)); !slices.Equal(d, ids_(1)) {
			t.Fatalf("after %d failures: round at +%s dialed %v, want the static peer", n+1, wait, d)
		}
		fail(clock)
	}
	if e := m.peers[pid(1)]; e.failedAttempts != 8 || !e.static {
		t.Fatalf("static peer %+v", e)
	}
	// It comes up: connected, then it leaves; the round at once redials it.
	clock = clock.Add(2 * time.Minute)
	m.ConnectToRelayPeers(clock)
	m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(1)), Direction: out}, clock)
	m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, clock)
	eff = m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, clock.Add(time.Minute))
	if !eff.Kick {
		t.Fatal("a static peer leaving did not ask for a round")
	}
	if d := dialedPeers(m.Kick(clock.Add(time.Minute))); !slices.Equal(d, ids_(1)) {
		t.Fatalf("the round after the static peer left dialed %v", d)
	}
}

// TestEveryCandidateIsTriedWithinCeilRounds (issue 10, item 3): an isolated
// node (no connection) with 40 candidates tries all of them within
// ⌈40/10⌉ = 4 rounds — whether its failures count (the peers time out) or
// not (offline: no route) — instead of the same top 10 every round.
func TestEveryCandidateIsTriedWithinCeilRounds(t *testing.T) {
	for _, outcome := range []dialerv1.DialOutcome{dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT,
		dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE, dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED} {
		t.Run(outcome.String(), func(t *testing.T) {
			c := testConfig()
			c.PeerStoreCapacity = 200
			m := newTestManager(t, c)
			for i := 1; i <= 40; i++ {
				setPeer(m, i, relay)
			}
			tried := map[peer.ID]int{}
			clock := at(time.Hour)
			for round := range 4 {
				d := dialedPeers(m.ConnectToRelayPeers(clock))
				if len(d) != 10 {
					t.Fatalf("round %d dialed %d, want 10", round+1, len(d))
				}
				for _, id := range d {
					tried[id]++
					m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: outcome}, clock)
				}
				clock = clock.Add(15 * time.Second)
			}
			if len(tried) != 40 {
				t.Fatalf("%d of 40 candidates tried in 4 rounds", len(tried))
			}
		})
	}
}

// TestInboundChurnKeepsTheStoreBounded (issue 10, item 5): 3,000 fresh
// inbound ids connecting and leaving between two prune ticks keep the books
// within PeerStoreCapacity at every step, cost no disk write (inbound-only
// peers seen once are cheap to forget), and leave room for a peer from
// discovery; an inbound peer that comes back is written.
func TestInboundChurnKeepsTheStoreBounded(t *testing.T) {
	c := DefaultConfig()
	c.MaxConnections, c.PeerStoreCapacity = 100, 500 // hard limit 1,000
	m := newTestManager(t, c)
	clock := at(time.Hour)
	puts := 0
	for i := 1; i <= 3000; i++ {
		clock = clock.Add(100 * time.Millisecond)
		eff := connect(m, 10_000+i, in, fmt.Sprintf("10.1.%d.%d", i/250, i%250), clock)
		// Every Waku peer runs the metadata exchange: its shards are no
		// reason to write a peer seen once.
		cluster := uint32(0)
		md := m.OnPeerMetadata(&pmv1.PeerMetadata{PeerId: []byte(pid(10_000 + i)), ClusterId: &cluster, Shards: []uint32{0}}, clock)
		eff2 := m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(10_000 + i))}, clock)
		puts += len(eff.Puts) + len(md.Puts) + len(eff2.Puts)
		if len(eff.Deletes)+len(eff2.Deletes) > 0 {
			t.Fatalf("inbound peer %d: deletes %v of records never written", i, eff.Deletes)
		}
		if m.Len() > c.PeerStoreCapacity {
			t.Fatalf("after %d inbound peers the books hold %d, capacity %d", i, m.Len(), c.PeerStoreCapacity)
		}
	}
	if puts != 0 {
		t.Fatalf("%d disk writes for inbound peers seen once, want 0", puts)
	}
	added := m.AddPeer(1, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: maddr(1)}, Origin: peerv1.Origin_ORIGIN_PX}, clock)
	if r := added.Replies[0].Msg.(*pmv1.PeerAdded); r.Error != "" || !r.Changed {
		t.Fatalf("a discovered peer after the churn: %v", r)
	}
	// One inbound peer comes back: now it is worth keeping, and written.
	eff := connect(m, 3, in, "10.9.9.9", clock)
	eff = m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(3))}, clock)
	if len(eff.Puts) != 0 {
		t.Fatalf("first connection of peer 3 written: %v", eff.Puts)
	}
	if eff = connect(m, 3, in, "10.9.9.9", clock.Add(time.Minute)); len(eff.Puts) != 1 {
		t.Fatalf("second connection of peer 3 not written: %v", eff.Puts)
	}
}

// TestLoadBeyondCapacityDeletesTheRest (issue 10, item 5): a store written
// with a larger capacity loads within the current one; the records it
// evicts are deleted from disk instead of staying there, never loaded.
func TestLoadBeyondCapacityDeletesTheRest(t *testing.T) {
	c := testConfig() // capacity 20
	m, err := NewManager(c, pid(self))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*peerv1.PeerRecord
	for i := 1; i <= 30; i++ {
		recs = append(recs, relayRecord(i))
	}
	eff := m.LoadFromStorage(&storagev1.LoadBatch{Records: recs})
	if m.Len() > c.PeerStoreCapacity {
		t.Fatalf("loaded %d peers, capacity %d", m.Len(), c.PeerStoreCapacity)
	}
	if len(eff.Deletes) != 30-m.Len() {
		t.Fatalf("%d deletes for %d records not kept", len(eff.Deletes), 30-m.Len())
	}
	for _, id := range eff.Deletes {
		if m.Record(id) != nil {
			t.Fatalf("deleted %s is still in the books", id)
		}
	}
}

// TestLoadKeepsHistory (issue 10, item 7): what a restart loads is what was
// recorded — origin (static, api, px; CACHE only when none), CannotConnect
// and CanConnect — not every peer as a NotConnected CACHE peer.
func TestLoadKeepsHistory(t *testing.T) {
	m, _ := NewManager(testConfig(), pid(self))
	rec := func(i int, o peerv1.Origin, c peerv1.Connectedness) *peerv1.PeerRecord {
		return (&entry{id: pid(i), addrs: [][]byte{addr(i)}, origin: o, connectedness: c}).toRecord()
	}
	m.LoadFromStorage(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{
		rec(1, peerv1.Origin_ORIGIN_STATIC, peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT),
		rec(2, peerv1.Origin_ORIGIN_API, peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT),
		rec(3, peerv1.Origin_ORIGIN_PX, peerv1.Connectedness_CONNECTEDNESS_CONNECTED),
		rec(4, peerv1.Origin_ORIGIN_UNSPECIFIED, peerv1.Connectedness_CONNECTEDNESS_UNSPECIFIED),
	}})
	want := map[int][2]int32{
		1: {int32(peerv1.Origin_ORIGIN_STATIC), int32(peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT)},
		2: {int32(peerv1.Origin_ORIGIN_API), int32(peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT)},
		3: {int32(peerv1.Origin_ORIGIN_PX), int32(peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT)},
		4: {int32(peerv1.Origin_ORIGIN_CACHE), int32(peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED)},
	}
	for i, w := range want {
		r := m.Record(pid(i))
		if int32(r.GetOrigin()) != w[0] || int32(r.GetConnectedness()) != w[1] {
			t.Errorf("peer %d loaded as %v %v, want %v %v", i, r.GetOrigin(), r.GetConnectedness(),
				peerv1.Origin(w[0]), peerv1.Connectedness(w[1]))
		}
	}
	// A stored static origin is shown, but only ConnectToNodes of this run
	// makes a peer static (kept connected, protected): a node removed from
	// the configuration is not redialed for ever.
	if m.peers[pid(1)].static {
		t.Fatal("a stored static origin made the peer static without the operator asking again")
	}
}

// TestRecordShutdown (issue 10, item 7): at shutdown every connected peer
// is recorded disconnected at that time and persisted, so the next start
// defers reconnecting it for the prune backoff.
func TestRecordShutdown(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	for i := 1; i <= 3; i++ {
		setPeer(m, i, relay)
		connect(m, i, out, "", now)
	}
	eff := m.RecordShutdown(7, now.Add(time.Minute))
	if len(eff.Puts) != 3 || len(eff.Replies) != 1 || eff.Replies[0].Msg.(*pmv1.ShutdownRecorded).Peers != 3 {
		t.Fatalf("puts %d replies %v", len(eff.Puts), eff.Replies)
	}
	for _, r := range eff.Puts {
		if r.Connectedness != peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT || !r.DisconnectTime.AsTime().Equal(now.Add(time.Minute)) {
			t.Fatalf("recorded %v", r)
		}
	}
	// The next incarnation loads them and defers the reconnect.
	next := newTestManager(t, testConfig())
	next.LoadFromStorage(&storagev1.LoadBatch{Records: eff.Puts})
	started := next.ReconnectPeers(1, &pmv1.ReconnectPeers{Protocol: WakuRelayCodec, Backoff: durationpb.New(62 * time.Second)},
		now.Add(90*time.Second))
	if r := started.Replies[0].Msg.(*pmv1.ReconnectStarted); r.Deferred != 3 || r.Dialing != 0 {
		t.Fatalf("reconnect 30 s after the shutdown: %v, want all 3 deferred", r)
	}
}

// TestFailuresVisibleAndResetByTheOperator (issue 10, item 10): GetPeers
// says when each peer will be dialed next, or that it never will (5
// failures); an operator adding it again (ConnectToNodes, which POST
// /admin/v1/peers sends) resets its failures, persisted, so the
// connectivity loop dials it again.
func TestFailuresVisibleAndResetByTheOperator(t *testing.T) {
	now := at(24 * time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, relay, failed(2, time.Minute, now))    // 480 s backoff, 7 min left
	setPeer(m, 2, relay, failed(5, time.Hour, now))      // excluded
	setPeer(m, 3, relay, failed(1, 10*time.Minute, now)) // backoff over
	got := map[peer.ID]*peerv1.PeerRecord{}
	for _, r := range m.GetPeers(1, &pmv1.GetPeers{}, now).Replies[0].Msg.(*pmv1.Peers).Peers {
		got[peer.ID(r.PeerId)] = r
	}
	if r := got[pid(1)]; r.DialExcluded || !r.NextDialTime.AsTime().Equal(now.Add(7*time.Minute)) || r.FailedAttempts != 2 {
		t.Fatalf("peer in backoff reported %v", r)
	}
	if r := got[pid(2)]; !r.DialExcluded || r.NextDialTime != nil {
		t.Fatalf("excluded peer reported %v", r)
	}
	if r := got[pid(3)]; r.DialExcluded || r.NextDialTime != nil {
		t.Fatalf("dialable peer reported %v", r)
	}
	// The records sent to storage never carry the reported fields.
	eff := m.ConnectToNodes(2, &pmv1.ConnectToNodes{Nodes: []string{maddr(2)}, Source: dialerv1.DialSource_DIAL_SOURCE_API}, now)
	e := m.peers[pid(2)]
	if e.failedAttempts != 0 || e.lastFailure != 0 || e.connectedness == peerv1.Connectedness_CONNECTEDNESS_CANNOT_CONNECT {
		t.Fatalf("operator's add did not reset: %+v", e)
	}
	if len(eff.Puts) == 0 || eff.Puts[0].FailedAttempts != 0 || eff.Puts[0].DialExcluded || eff.Puts[0].NextDialTime != nil {
		t.Fatalf("reset not persisted as a plain record: %v", eff.Puts)
	}
	// Its dial fails once more: counted from zero, the loop retries after 120 s.
	m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(50)), Direction: out}, now) // online
	m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(2)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, now)
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(2 * time.Minute))); !slices.Contains(d, pid(2)) {
		t.Fatalf("after the reset and one failure, the round at +120 s dialed %v", d)
	}
}

// TestRefusalsMoveTheRoundOn (issue 10, found by the churn soak): a peer
// that closes the connection we just made (its limits are full) is not
// redialed for PrunedBackoff, and it, like a round's dial that failed,
// asks for the next round at once while the node is below its target.
func TestRefusalsMoveTheRoundOn(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, relay)
	setPeer(m, 2, relay)
	if d := dialedPeers(m.ConnectToRelayPeers(now)); len(d) != 2 {
		t.Fatalf("dialed %v", d)
	}
	m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(1)), Direction: out}, now)
	m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(1)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, now)
	eff := m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now.Add(200*time.Millisecond))
	if !eff.Kick {
		t.Fatal("a refusal did not ask for the next round")
	}
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(time.Minute))); slices.Contains(d, pid(1)) {
		t.Fatal("a peer that refused us was redialed within PrunedBackoff")
	}
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(2*time.Minute + time.Second))); !slices.Contains(d, pid(1)) {
		t.Fatalf("after PrunedBackoff dialed %v", d)
	}
	// A connection that lasted is a departure, not a refusal.
	setPeer(m, 3, relay)
	connect(m, 3, out, "", now)
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(3))}, now.Add(time.Hour))
	if m.peers[pid(3)].prunedAt != 0 {
		t.Fatal("a peer that left after an hour was taken for a refusal")
	}
	// A round's dial that fails asks for the next round.
	eff = m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(pid(2)), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, now)
	if !eff.Kick {
		t.Fatal("a failed round dial did not ask for the next round")
	}
}

// TestRoundsSearchWhileDialsFail (issue 10, found by the churn soak): a
// node one peer short whose candidates mostly time out (a partition) races
// twice as many candidates per round after each failed dial, at most
// MaxParallelDials more than its gap, and asks for the gap only again once
// dials succeed.
func TestRoundsSearchWhileDialsFail(t *testing.T) {
	now := at(time.Hour)
	c := testConfig()
	c.PeerStoreCapacity = 200
	m := newTestManager(t, c)
	for i := 101; i <= 109; i++ { // 9 of 10 outbound
		setPeer(m, i, relay)
		connect(m, i, out, "", now)
	}
	for i := 1; i <= 40; i++ {
		setPeer(m, i, relay)
	}
	var sizes []int
	clock := now
	for range 5 {
		d := dialedPeers(m.ConnectToRelayPeers(clock))
		sizes = append(sizes, len(d))
		for _, id := range d {
			m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT}, clock)
		}
		clock = clock.Add(5 * time.Second)
	}
	// Each failed dial doubles: 1 failure → 2, 3 failures → 8, then the
	// cap of MaxParallelDials per round.
	if !slices.Equal(sizes, []int{1, 2, 8, 10, 10}) {
		t.Fatalf("round sizes %v, want 1, 2, 8, 10, 10", sizes)
	}
	d := dialedPeers(m.ConnectToRelayPeers(clock))
	for _, id := range d {
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, clock)
	}
	m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(d[0]), Direction: out}, clock)
	if m.searching >= maxSearching {
		t.Fatalf("searching %d after successes, want it stepped down", m.searching)
	}
	if more := m.ConnectToRelayPeers(clock.Add(time.Second)).Dials; len(more) != 0 {
		t.Fatalf("target met, yet dialed %v", more)
	}
	if m.searching != 0 {
		t.Fatalf("searching %d at the target, want 0", m.searching)
	}
}

// TestIdentifyPushBringsRelay: a peer we dialed for relay whose first
// identify lacks relay (it answered before registering relay) is kept when
// identify push brings relay within NotRelayGrace.
func TestIdentifyPushBringsRelay(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, origin(peerv1.Origin_ORIGIN_PX))
	m.ConnectToRelayPeers(now)
	m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(1)), Direction: out}, now)
	m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(pid(1)), Protocols: []string{"/ipfs/id/1.0.0"}}, now)
	eff := m.OnPeerProtocolsUpdated(&pmv1.PeerProtocolsUpdated{PeerId: []byte(pid(1)),
		Protocols: []string{"/ipfs/id/1.0.0", WakuRelayCodec}}, now.Add(time.Second))
	if len(eff.Puts) != 1 || !m.peers[pid(1)].relay {
		t.Fatalf("push not recorded: %v", eff.Puts)
	}
	if d := m.ConnectToRelayPeers(now.Add(time.Minute)).Disconnects; len(d) != 0 {
		t.Fatalf("a relay peer was disconnected as not_relay: %v", d)
	}
	if _, out := m.relayCounts(); out != 1 {
		t.Fatalf("outbound relay peers %d, want the pushed one", out)
	}
}

// TestAConnectionClearsFailures: a peer that connects to us, inbound, is
// not failing: its failures go and the connectivity loop may dial it again
// at once once it leaves (failures counted across a partition otherwise
// keep healed peers in backoff for hours).
func TestAConnectionClearsFailures(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, testConfig())
	setPeer(m, 1, relay, failed(3, time.Minute, now))
	eff := connect(m, 1, in, "", now)
	if e := m.peers[pid(1)]; e.failedAttempts != 0 || e.lastFailure != 0 || len(eff.Puts) != 1 || eff.Puts[0].FailedAttempts != 0 {
		t.Fatalf("after an inbound connection: %+v, puts %v", e, eff.Puts)
	}
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now.Add(time.Hour))
	if d := dialedPeers(m.ConnectToRelayPeers(now.Add(time.Hour))); !slices.Contains(d, pid(1)) {
		t.Fatalf("a peer that was connected an hour is still in backoff: dialed %v", d)
	}
}

// TestIdentifyThatNeverCompletesFreesTheSlot: an outbound connection made
// for relay whose identify never completes (go-libp2p's identify failed)
// counts toward the target only IdentifyGrace; the round after that closes
// it and the next round dials another candidate. Before, such a connection
// held its slot for ever (a loopback discovery run sat at 2 of 3 outbound
// with undialed candidates).
func TestIdentifyThatNeverCompletesFreesTheSlot(t *testing.T) {
	now := at(time.Hour)
	c := testConfig()
	m := newTestManager(t, c)
	for i := 1; i <= 11; i++ {
		m.AddPeer(0, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{PeerId: []byte(pid(i)), Addresses: [][]byte{addr(i)}},
			Origin: peerv1.Origin_ORIGIN_PX}, now)
	}
	first := dialedPeers(m.ConnectToRelayPeers(now))
	if len(first) != 10 {
		t.Fatalf("first round dialed %d, want the outbound target 10", len(first))
	}
	silent := first[0]
	for _, id := range first {
		m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(id), Direction: peerv1.Direction_DIRECTION_OUTBOUND}, now)
		m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(id), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, now)
		if id != silent {
			m.OnIdentifyCompleted(&pmv1.IdentifyCompleted{PeerId: []byte(id), Protocols: []string{WakuRelayCodec}}, now)
		}
	}
	// While identify may still run, the silent connection holds its slot.
	for _, dt := range []time.Duration{10 * time.Second, IdentifyGrace - time.Second} {
		eff := m.ConnectToRelayPeers(now.Add(dt))
		if len(eff.Dials) != 0 || len(eff.Disconnects) != 0 {
			t.Fatalf("round at +%s: dials %v, disconnects %v; want none while identify may still complete", dt, dialedPeers(eff), eff.Disconnects)
		}
	}
	eff := m.ConnectToRelayPeers(now.Add(IdentifyGrace))
	if len(eff.Disconnects) != 1 || eff.Disconnects[0].Peer != silent || eff.Disconnects[0].Reason != "identify_timeout" {
		t.Fatalf("round at +IdentifyGrace: disconnects %v, want %s for identify_timeout", eff.Disconnects, silent)
	}
	// The slot is free in that same round: the untried candidate is dialed.
	var untried peer.ID
	for i := 1; i <= 11; i++ {
		if !slices.Contains(first, pid(i)) {
			untried = pid(i)
		}
	}
	if got := dialedPeers(eff); len(got) != 1 || got[0] != untried {
		t.Fatalf("round at +IdentifyGrace dialed %v, want the untried candidate %s", got, untried)
	}
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(silent)}, now.Add(IdentifyGrace))
	if eff := m.ConnectToRelayPeers(now.Add(IdentifyGrace + 10*time.Second)); len(eff.Dials) != 0 {
		t.Fatalf("round after: dialed %v beyond the target", dialedPeers(eff))
	}
}
