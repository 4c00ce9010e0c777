package peermanager

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// TestRestartUnderEclipse (reliability case F16, nearcore#8582): the node
// stops with its store full of an eclipse attacker's records — 150 peers it
// never connected to (handed over by discovery or PX, all claiming our
// shard) and 50 sybils that dialed it — next to the 8 peers it was
// connected to and 2 static nodes. Restarted 5 s later, within the
// reconnect backoff, with every dial succeeding (the attacker's peers are
// all reachable): the outbound slots go to the static and previously
// connected peers, not one attacker peer is dialed, and the outbound
// quota holds. Before, ReconnectPeers dialed all 150 never-connected
// records at once and the connectivity rounds gave the quota to the
// attacker while the known peers waited out their backoff.
func TestRestartUnderEclipse(t *testing.T) {
	shutdown := at(time.Hour)
	rec := func(i int, o peerv1.Origin, c peerv1.Connectedness, gone time.Time) *peerv1.PeerRecord {
		e := &entry{id: pid(i), addrs: [][]byte{addr(i)}, protocols: []string{WakuRelayCodec}, origin: o,
			connectedness: c, shards: []uint32{0}}
		if !gone.IsZero() {
			e.disconnectTime = gone.UnixNano()
		}
		return e.toRecord()
	}
	var recs []*peerv1.PeerRecord
	known := map[int]bool{}
	for i := 1; i <= 10; i++ { // 1..8 connected before, 9 and 10 static (and connected before)
		o := peerv1.Origin_ORIGIN_DISCV5
		if i > 8 {
			o = peerv1.Origin_ORIGIN_STATIC
		}
		recs = append(recs, rec(i, o, peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT, shutdown))
		known[i] = true
	}
	for i := 100; i < 250; i++ {
		recs = append(recs, rec(i, peerv1.Origin_ORIGIN_PX, peerv1.Connectedness_CONNECTEDNESS_NOT_CONNECTED, time.Time{}))
	}
	for i := 250; i < 300; i++ { // sybils that dialed us, gone just before the shutdown
		recs = append(recs, rec(i, peerv1.Origin_ORIGIN_INBOUND, peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT, shutdown.Add(-time.Second)))
	}
	slices.Reverse(recs) // the attacker's records load first

	cfg := testConfig() // outbound target 10, MaxParallelDials 10
	cfg.PeerStoreCapacity, cfg.Shards = 300, []uint32{0}
	m, err := NewManager(cfg, pid(self))
	if err != nil {
		t.Fatal(err)
	}
	now := shutdown.Add(5 * time.Second)
	m.LoadFromStorage(&storagev1.LoadBatch{Records: recs})
	m.LoadCompleted(&storagev1.LoadCompleted{Loaded: uint64(len(recs))})
	var dialed []int
	index := map[string]int{}
	for i := range 300 {
		index[string(pid(i))] = i
	}
	// run dials the effects' dials and has each succeed at once.
	run := func(eff Effects) {
		for _, d := range eff.Dials {
			i := index[string(d.Peer)]
			dialed = append(dialed, i)
			connect(m, i, out, "", now)
			m.OnDialCompleted(&dialerv1.DialCompleted{PeerId: []byte(d.Peer), Outcome: dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED}, now)
		}
	}
	run(m.ConnectToNodes(1, &pmv1.ConnectToNodes{Nodes: []string{maddr(9), maddr(10)}}, now))
	run(m.ReconnectPeers(2, &pmv1.ReconnectPeers{Protocol: WakuRelayCodec, Backoff: durationpb.New(62 * time.Second)}, now))
	for range 30 { // 5 virtual minutes of rounds, every 10 s
		run(m.ConnectToRelayPeers(now))
		now = now.Add(10 * time.Second)
	}
	for _, i := range dialed {
		if !known[i] {
			t.Fatalf("dialed attacker peer %d (dials in order: %v)", i, dialed)
		}
	}
	_, outRelay := m.relayCounts()
	if outRelay != 10 || len(dialed) != 10 {
		t.Fatalf("%d outbound relay peers after %d dials, want the 10 known peers", outRelay, len(dialed))
	}
}
