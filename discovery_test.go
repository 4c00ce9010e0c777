package peermesh

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/peermesh/peermesh/messages/discovery/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	"github.com/peermesh/peermesh/waku/discovery"
	"github.com/peermesh/peermesh/waku/enr"
	"github.com/peermesh/peermesh/waku/sharding"
)

// askChild sends req to the node's child actor name and returns its answer
// (the zero T when it did not answer: it may not be spawned yet).
func askChild[T proto.Message](t *testing.T, n *Node, name string, req proto.Message) T {
	t.Helper()
	res, err := n.System().Root.RequestFuture(child(n.PID(), name), req, 5*time.Second).Result()
	v, ok := res.(T)
	if err != nil || !ok {
		t.Logf("%s: %T: %T, %v", name, req, res, err)
	}
	return v
}

// discoveryNode starts a waku node on cluster with shard 0, discv5 on a
// free UDP port when boot is not nil (boot: its bootstrap records), a
// small outbound target, and fast discovery rounds.
func discoveryNode(t *testing.T, name string, cluster uint16, boot []string, tune func(*Config)) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Name, cfg.ClusterID = name, cluster
	cfg.PubsubTopics = sharding.Topics(cluster, []uint16{0})
	// Inbound room for every other node (16 relay slots, 3 out, 13 in): a
	// node full of inbound peers would turn away dials, which is the peer
	// manager's business, not discovery's.
	cfg.MaxConnections, cfg.OutRelayPeers = 20, 3
	cfg.IPColocationLimit = 0 // every node is on 127.0.0.1
	if boot != nil {
		cfg.Discv5Discovery, cfg.Discv5BootstrapNodes = true, boot
	}
	if tune != nil {
		tune(&cfg)
	}
	d := defaultDeps()
	d.discovery = func(c *discovery.Config) { c.RoundInterval, c.PXInterval = 2*time.Second, 3*time.Second }
	return startNodeWith(t, cfg, d)
}

// connections counts every connection a host makes or accepts.
type connections struct{ n atomic.Int64 }

func (c *connections) Connected(network.Network, network.Conn)    { c.n.Add(1) }
func (c *connections) Disconnected(network.Network, network.Conn) {}
func (c *connections) Listen(network.Network, ma.Multiaddr)       {}
func (c *connections) ListenClose(network.Network, ma.Multiaddr)  {}

// counterValue reads a counter of the node's metrics (0 when absent).
func counterValue(t *testing.T, n *Node, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestDiscoveryOnLoopback is the proof on real hosts and real UDP:
// 12 nodes, each given one bootstrap record only (node i the record of node
// i−1), all reach their outbound relay target with peers found through
// discv5; a node without discv5 reaches its target from the records a
// peer-exchange request to node 0 returned; and a node of another cluster,
// bootstrapped from node 0 (so in every routing table), is found but never
// dialed by anyone.
func TestDiscoveryOnLoopback(t *testing.T) {
	const nodes = 12
	began := time.Now()
	t.Cleanup(func() { t.Logf("cleanup at %s", time.Since(began)) })
	var ns []*Node
	for i := range nodes {
		var boot []string
		if i > 0 {
			boot = []string{ns[i-1].ENR()}
		} else {
			boot = []string{}
		}
		ns = append(ns, discoveryNode(t, "d", 16, boot, nil))
		if i == 0 {
			// go-ethereum's table takes no inbound contact before its first
			// refresh ended; the first round ends after it.
			waitUntil(t, 10*time.Second, "node 0's first discv5 round", func() bool {
				st, err := ns[0].DiscoveryStatus(context.Background())
				return err == nil && st.GetRounds() > 0 && !st.GetLookupInFlight()
			})
			t.Logf("node 0 ready at %s", time.Since(began))
		}
	}
	other := discoveryNode(t, "other", 17, []string{ns[0].ENR()}, nil)
	var otherConns connections
	other.Host().Network().Notify(&otherConns)
	px := discoveryNode(t, "px", 16, nil, func(c *Config) { c.PeerExchangeNode = ns[0].Addrs()[0] })

	// A node reaches its outbound target, or is already connected to every
	// other node: then nothing is left to dial (a run under load had node 2
	// at 10 inbound and 2 outbound peers, every other node connected to it
	// before it dialed its third).
	reached := func(n *Node) bool {
		st := askChild[*pmv1.Status](t, n, "peermanager", &pmv1.GetStatus{})
		return st.GetOutRelayPeers() >= st.GetOutRelayTarget() ||
			st.GetInRelayPeers()+st.GetOutRelayPeers() >= nodes-1
	}
	start := time.Now()
	t.Logf("nodes started in %s", time.Since(began))
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		byID := map[string]int{}
		for i, n := range ns {
			byID[n.ID().String()] = i
		}
		for i, n := range ns {
			st := askChild[*pmv1.Status](t, n, "peermanager", &pmv1.GetStatus{})
			ds, _ := n.DiscoveryStatus(context.Background())
			t.Logf("node %d: in %d/%d out %d/%d; discovery %v; records %v added, %v known", i, st.GetInRelayPeers(), st.GetInRelayTarget(), st.GetOutRelayPeers(), st.GetOutRelayTarget(), ds,
				counterValue(t, n, "peermesh_discovery_records_total", map[string]string{"result": "added"}),
				counterValue(t, n, "peermesh_discovery_records_total", map[string]string{"result": "known"}))
			ps, _ := n.Peers(context.Background())
			for _, p := range ps {
				t.Logf("   peer %d: %s %s %s failures %d next %v excluded %v protos %d", byID[p.GetPeerId()], p.GetConnectedness(), p.GetDirection(), p.GetOrigin(),
					p.GetFailedAttempts(), p.GetNextDial().AsTime().Format("15:04:05"), p.GetDialExcluded(), len(p.GetProtocols()))
			}
		}
	})
	waitUntil(t, 90*time.Second, "every discv5 node reaches its outbound target or has no one left to dial", func() bool {
		if testing.Verbose() {
			line := ""
			for _, n := range ns {
				st := askChild[*pmv1.Status](t, n, "peermanager", &pmv1.GetStatus{})
				ds := askChild[*discoveryv1.DiscoveryStatus](t, n, "discovery", &discoveryv1.GetDiscoveryStatus{})
				line += fmt.Sprintf(" %d/%d/%d/%d", st.GetOutRelayPeers(), st.GetOutsideBackoff(), ds.GetFound(), ds.GetTableSize())
			}
			t.Logf("%5.1fs%s", time.Since(start).Seconds(), line)
		}
		for _, n := range ns {
			if !reached(n) {
				return false
			}
		}
		return true
	})
	for i, n := range ns {
		st := askChild[*discoveryv1.DiscoveryStatus](t, n, "discovery", &discoveryv1.GetDiscoveryStatus{})
		if !st.GetDiscv5() || st.GetFound() < 3 {
			t.Errorf("node %d: discovery %v", i, st)
		}
		r, err := enr.Parse(n.ENR())
		if err != nil || r.Waku2 != enr.CapRelay || r.Cluster != 16 {
			t.Errorf("node %d record %+v, %v", i, r, err)
		}
	}
	// Every outbound peer of the last node came from discv5: it was given
	// only node 10's record.
	last := ns[nodes-1]
	out := 0
	ps, err := last.Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.GetConnectedness() == "connected" && p.GetDirection() == "outbound" {
			out++
			if p.GetOrigin() != "discv5" {
				t.Errorf("outbound peer %s of origin %q", p.GetPeerId(), p.GetOrigin())
			}
		}
	}
	if out == 0 {
		t.Error("last node has no outbound peer")
	}

	t.Logf("targets reached at %s", time.Since(began))
	t.Run("peer exchange bootstraps a node without discv5", func(t *testing.T) {
		waitUntil(t, 60*time.Second, "the peer-exchange node reaches its outbound target", func() bool { return reached(px) })
		// Its outbound peers are the peer-exchange node (dialed to ask it)
		// and peers it answered with.
		fromPX := 0
		ps, _ := px.Peers(context.Background())
		for _, p := range ps {
			if p.GetConnectedness() != "connected" || p.GetDirection() != "outbound" {
				continue
			}
			switch {
			case p.GetOrigin() == "px":
				fromPX++
			case p.GetPeerId() != ns[0].ID().String():
				t.Errorf("outbound peer %s of origin %q", p.GetPeerId(), p.GetOrigin())
			}
		}
		if fromPX < 2 {
			t.Fatalf("%d outbound peers of origin px", fromPX)
		}
		if v := counterValue(t, ns[0], "waku_px_peers_sent", nil); v < float64(fromPX) {
			t.Fatalf("node 0 sent %v records", v)
		}
	})

	t.Run("a node of another cluster is found but never dialed", func(t *testing.T) {
		found := 0.0
		for _, n := range ns {
			found += counterValue(t, n, "peermesh_discovery_records_total", map[string]string{"result": "other_cluster"})
			if p := peerOf(t, n, other.ID()); p != nil {
				t.Errorf("node %s has the other cluster's node in its peer store: %v", n.ID(), p)
			}
		}
		if found == 0 {
			t.Fatal("no node found the other cluster's record")
		}
		if c := otherConns.n.Load(); c != 0 {
			t.Fatalf("the other cluster's node saw %d connections", c)
		}
	})
}
