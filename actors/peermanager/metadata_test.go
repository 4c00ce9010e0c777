package peermanager

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

func clusterConfig() Config {
	c := testConfig()
	c.ClusterID, c.CheckCluster, c.Shards = 1, true, []uint32{0, 1}
	return c
}

// TestOnPeerMetadata: one row per rule of nwaku's onPeerMetadata as
// peermesh applies it.
func TestOnPeerMetadata(t *testing.T) {
	now := at(time.Hour)
	tests := []struct {
		name           string
		cfg            Config
		ev             *pmv1.PeerMetadata
		wantShards     []uint32
		wantCluster    *uint32
		wantDisconnect bool
		wantPut        bool
	}{
		{"same cluster: shards recorded, kept", clusterConfig(),
			&pmv1.PeerMetadata{ClusterId: proto.Uint32(1), Shards: []uint32{1, 4}}, []uint32{1, 4}, proto.Uint32(1), false, true},
		{"other cluster: recorded and disconnected", clusterConfig(),
			&pmv1.PeerMetadata{ClusterId: proto.Uint32(2), Shards: []uint32{0}}, []uint32{0}, proto.Uint32(2), true, true},
		{"no cluster: disconnected", clusterConfig(),
			&pmv1.PeerMetadata{}, nil, nil, true, false},
		{"failed exchange: nothing recorded, kept", clusterConfig(),
			&pmv1.PeerMetadata{Error: "protocols not supported"}, nil, nil, false, false},
		{"cluster check off (libp2p profile): kept", testConfig(),
			&pmv1.PeerMetadata{ClusterId: proto.Uint32(2), Shards: []uint32{3}}, []uint32{3}, proto.Uint32(2), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, tt.cfg)
			setPeer(m, 1, relay)
			connect(m, 1, out, "10.0.0.1", now)
			tt.ev.PeerId = []byte(pid(1))
			eff := m.OnPeerMetadata(tt.ev, now)
			r := m.Record(pid(1))
			if !slices.Equal(r.GetShards(), tt.wantShards) {
				t.Errorf("shards %v, want %v", r.GetShards(), tt.wantShards)
			}
			if (r.ClusterId == nil) != (tt.wantCluster == nil) || r.GetClusterId() != deref(tt.wantCluster) {
				t.Errorf("cluster %v, want %v", r.ClusterId, tt.wantCluster)
			}
			disconnected := len(eff.Disconnects) == 1 && eff.Disconnects[0].Peer == pid(1) && eff.Disconnects[0].Reason == "cluster_mismatch"
			if disconnected != tt.wantDisconnect || (!tt.wantDisconnect && len(eff.Disconnects) > 0) {
				t.Errorf("disconnects %v, want cluster_mismatch: %v", eff.Disconnects, tt.wantDisconnect)
			}
			if (len(eff.Puts) > 0) != tt.wantPut {
				t.Errorf("puts %v, want a put: %v", eff.Puts, tt.wantPut)
			}
		})
	}
}

// A peer recorded on another cluster is never dialed again — not by the
// connectivity loop, not as a static node after a restart — nor selected.
func TestOtherClusterPeerIsNeverDialedOrSelected(t *testing.T) {
	now := at(time.Hour)
	m := newTestManager(t, clusterConfig())
	setPeer(m, 1, relay)
	connect(m, 1, out, "10.0.0.1", now)
	m.OnPeerMetadata(&pmv1.PeerMetadata{PeerId: []byte(pid(1)), ClusterId: proto.Uint32(2)}, now)
	m.OnPeerDisconnected(&pmv1.PeerDisconnected{PeerId: []byte(pid(1))}, now)
	later := now.Add(24 * time.Hour)
	if m.CanBeConnected(pid(1), later) {
		t.Fatal("other-cluster peer can be connected")
	}
	if d := dialedPeers(m.ConnectToRelayPeers(later)); len(d) != 0 {
		t.Fatalf("connectivity round dialed %v", d)
	}
	if p := m.SelectPeer(WakuRelayCodec, nil); p != nil {
		t.Fatalf("selected %v", p)
	}
	// The record survives a restart with its cluster.
	r := m.Record(pid(1))
	m2 := newTestManager(t, clusterConfig())
	m2.LoadFromStorage(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{r}})
	if m2.CanBeConnected(pid(1), later) {
		t.Fatal("other-cluster peer loaded from storage can be connected")
	}
}

// The connectivity loop dials peers serving our shards first, then peers
// whose shards are unknown, then peers known to serve only other shards.
func TestConnectivityPrefersPeersOnOurShards(t *testing.T) {
	now := at(time.Hour)
	for _, n := range []int{1, 2, 3} {
		cfg := clusterConfig()
		cfg.MaxParallelDials = n
		m := newTestManager(t, cfg)
		setPeer(m, 1, relay, shards(5))    // only other shards
		setPeer(m, 2, relay)               // unknown
		setPeer(m, 3, relay, shards(1, 5)) // one of ours
		want := ids_(3, 2, 1)[:n]
		if got := dialedPeers(m.ConnectToRelayPeers(now)); !slices.Equal(got, want) {
			t.Fatalf("%d dials: %v, want %v", n, got, want)
		}
	}
}

func deref(p *uint32) uint32 {
	if p == nil {
		return 0
	}
	return *p
}

// SetShards (the node joined or left a shard) re-ranks the candidates.
func TestSetShardsReranksCandidates(t *testing.T) {
	now := at(time.Hour)
	cfg := clusterConfig()
	cfg.MaxParallelDials, cfg.Shards = 1, []uint32{0}
	m := newTestManager(t, cfg)
	setPeer(m, 1, relay, shards(5))
	setPeer(m, 2, relay, shards(0))
	m.SetShards(&pmv1.SetShards{Shards: []uint32{5}})
	if got := dialedPeers(m.ConnectToRelayPeers(now)); !slices.Equal(got, ids_(1)) {
		t.Fatalf("after SetShards([5]) dialed %v, want the peer on shard 5", got)
	}
}
