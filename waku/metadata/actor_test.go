package metadata

import (
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/sim"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	wakuv1 "github.com/peermesh/peermesh/messages/waku/v1"
)

type side struct {
	host    host.Host
	pid     *actor.PID
	pm      *actortest.Probe
	metrics *prometheus.Registry
}

func startSide(t *testing.T, sys *actor.ActorSystem, cluster uint32, shards ...uint32) side {
	t.Helper()
	s := side{host: sim.LoopbackHost(t), pm: actortest.NewProbe(t, sys), metrics: prometheus.NewRegistry()}
	cfg := DefaultConfig()
	cfg.Cluster, cfg.Shards, cfg.Timeout = cluster, shards, 5*time.Second
	props, err := Props(cfg, Deps{Host: s.host, PeerManager: s.pm.PID(), Registerer: s.metrics})
	if err != nil {
		t.Fatal(err)
	}
	s.pid = sys.Root.Spawn(props)
	t.Cleanup(func() { _ = sys.Root.StopFuture(s.pid).Wait() })
	// Started has run once the actor answers.
	st, err := sys.Root.RequestFuture(s.pid, &wakuv1.GetMetadataStatus{}, 5*time.Second).Result()
	if err != nil || st.(*wakuv1.MetadataStatus).GetClusterId() != cluster {
		t.Fatalf("status %v %v", st, err)
	}
	return s
}

func connect(t *testing.T, a, b side) {
	t.Helper()
	if err := a.host.Connect(t.Context(), peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// Both sides of a new connection ask each other; each reports the other's
// cluster and shards to its peer manager. Real hosts on loopback.
func TestExchangeOnNewConnection(t *testing.T) {
	sys := actortest.NewSystem(t)
	a := startSide(t, sys, 1, 0, 3)
	b := startSide(t, sys, 1, 5)
	connect(t, a, b)
	sys.Root.Send(a.pid, &pmv1.PeerConnected{PeerId: []byte(b.host.ID())})
	sys.Root.Send(b.pid, &pmv1.PeerConnected{PeerId: []byte(a.host.ID())})
	got := actortest.Expect[*pmv1.PeerMetadata](a.pm)
	if peer.ID(got.GetPeerId()) != b.host.ID() || got.GetError() != "" || got.GetClusterId() != 1 || !slices.Equal(got.GetShards(), []uint32{5}) {
		t.Fatalf("a learnt %v", got)
	}
	got = actortest.Expect[*pmv1.PeerMetadata](b.pm)
	if got.GetClusterId() != 1 || !slices.Equal(got.GetShards(), []uint32{0, 3}) {
		t.Fatalf("b learnt %v", got)
	}
	// A change of topics changes what the node says from then on.
	sys.Root.Send(b.pid, &wakuv1.SetLocalMetadata{ClusterId: 1, Shards: []uint32{7, 6}})
	remote, err := Request(t.Context(), a.host, b.host.ID(), Info{Cluster: 1, HasCluster: true}, 5*time.Second)
	if err != nil || !slices.Equal(remote.Shards, []uint32{6, 7}) {
		t.Fatalf("after SetLocalMetadata: %v %v", remote, err)
	}
	if n := exchanges(t, a, "ok"); n != 1 {
		t.Fatalf("ok exchanges %v", n)
	}
}

// A peer of another cluster is reported with its cluster (the peer
// manager disconnects it); a peer without the protocol is reported with an
// error (and kept).
func TestOtherClusterAndNoProtocol(t *testing.T) {
	sys := actortest.NewSystem(t)
	a := startSide(t, sys, 1)
	b := startSide(t, sys, 2, 0)
	connect(t, a, b)
	sys.Root.Send(a.pid, &pmv1.PeerConnected{PeerId: []byte(b.host.ID())})
	if got := actortest.Expect[*pmv1.PeerMetadata](a.pm); got.GetClusterId() != 2 || got.GetError() != "" {
		t.Fatalf("a learnt %v", got)
	}
	plain := sim.LoopbackHost(t)
	if err := a.host.Connect(t.Context(), peer.AddrInfo{ID: plain.ID(), Addrs: plain.Addrs()}); err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(a.pid, &pmv1.PeerConnected{PeerId: []byte(plain.ID())})
	if got := actortest.Expect[*pmv1.PeerMetadata](a.pm); got.GetError() == "" || got.ClusterId != nil {
		t.Fatalf("a peer without the protocol reported %v", got)
	}
	if n := exchanges(t, a, "other_cluster"); n != 1 {
		t.Fatalf("other_cluster exchanges %v", n)
	}
}

// exchanges reads waku_metadata_exchanges_total{result} from s's registry.
func exchanges(t *testing.T, s side, result string) float64 {
	t.Helper()
	mfs, err := s.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "waku_metadata_exchanges_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
