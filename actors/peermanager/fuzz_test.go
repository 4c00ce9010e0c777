package peermanager

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// FuzzParsePeerInfo: peer infos come from the API, REST and discovery; any
// input is either a clear error or a usable peer, never a panic.
func FuzzParsePeerInfo(f *testing.F) {
	f.Add(maddr(1), []byte(pid(1)), addr(2), WakuRelayCodec)
	f.Add("/ip4/1.2.3.4/tcp/1", []byte{}, []byte{0x04, 1, 2}, "")
	f.Add("", []byte("garbage"), []byte{}, "relay")
	f.Fuzz(func(t *testing.T, multiaddr string, id, addr []byte, proto string) {
		p, err := ParsePeerInfo(&pmv1.PeerInfo{Multiaddr: multiaddr, PeerId: id, Addresses: [][]byte{addr}, Protocols: []string{proto}})
		if err != nil {
			if errorType(err) == "internal" || err.Error() == "" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if p.id == "" {
			t.Fatal("accepted a peer info without a peer id")
		}
		m := newTestManager(t, testConfig())
		m.AddPeer(1, &pmv1.AddPeer{Peer: &pmv1.PeerInfo{Multiaddr: multiaddr, PeerId: id, Addresses: [][]byte{addr}, Protocols: []string{proto}}}, t0)
		m.ConnectToRelayPeers(t0)
	})
}

// FuzzLoadFromStorage: records come from disk; a decodable record that is
// nonsense is skipped or loaded, never a panic, and the manager keeps
// working.
func FuzzLoadFromStorage(f *testing.F) {
	good, _ := proto.Marshal(relayRecord(1))
	f.Add(good)
	bad, _ := proto.Marshal(&peerv1.PeerRecord{PeerId: []byte("x"), FailedAttempts: 99})
	f.Add(bad)
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &peerv1.PeerRecord{}
		if proto.Unmarshal(data, rec) != nil {
			return
		}
		m, _ := NewManager(testConfig(), pid(self))
		m.LoadFromStorage(&storagev1.LoadBatch{Records: []*peerv1.PeerRecord{rec}})
		m.LoadCompleted(&storagev1.LoadCompleted{})
		now := t0.Add(time.Hour)
		m.ConnectToRelayPeers(now)
		m.PrunePeerStore(now)
		m.Status(now)
		m.LogAndMetrics(now)
	})
}
