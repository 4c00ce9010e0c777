package peermanager

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	pmv1 "github.com/peermesh/peermesh/messages/peermanager/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

const benchPeers = 100_000

var (
	benchOnce    sync.Once
	benchRecords [][]byte // marshalled, as the storage actor reads them
)

// storedRecords returns benchPeers realistic marshalled records: Ed25519
// ids, two addresses, four Waku protocols, agent, version, two shards, a
// disconnect time and, for one peer in five, failures.
func storedRecords() [][]byte {
	benchOnce.Do(func() {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 1; i <= benchPeers; i++ {
			id := pid(i)
			e := &entry{id: id, addrs: [][]byte{addr(i), addr(i + benchPeers)},
				protocols: []string{WakuRelayCodec, "/vac/waku/store/2.0.0", "/vac/waku/filter-subscribe/2.0.0-beta1", "/vac/waku/lightpush/2.0.0-beta1"},
				publicKey: publicKeyOf(id), agent: "nwaku/v0.36.0", protoVersion: "ipfs/0.1.0", shards: []uint32{0, uint32(i % 8)},
				origin: peerv1.Origin_ORIGIN_DISCV5, disconnectTime: base.UnixNano()}
			if i%5 == 0 {
				e.failedAttempts, e.lastFailure = uint32(i%7), base.Add(time.Duration(i)*time.Second).UnixNano()
			}
			b, err := proto.Marshal(e.toRecord())
			if err != nil {
				panic(err)
			}
			benchRecords = append(benchRecords, b)
		}
	})
	return benchRecords
}

func decodeBatch(b testing.TB, raw [][]byte) *storagev1.LoadBatch {
	batch := &storagev1.LoadBatch{Records: make([]*peerv1.PeerRecord, len(raw))}
	for i, r := range raw {
		rec := &peerv1.PeerRecord{}
		if err := proto.Unmarshal(r, rec); err != nil {
			b.Fatal(err)
		}
		batch.Records[i] = rec
	}
	return batch
}

func benchConfig() Config {
	c := DefaultConfig()
	c.PeerStoreCapacity = benchPeers
	return c
}

// BenchmarkConnectivityTick100k is one relay connectivity round (prune
// inbound, count, pick the best candidates) over 100,000 stored peers, the
// outbound target unmet so the whole store is scanned. Target: < 20 ms.
func BenchmarkConnectivityTick100k(b *testing.B) {
	m, err := NewManager(benchConfig(), pid(self))
	if err != nil {
		b.Fatal(err)
	}
	m.LoadFromStorage(decodeBatch(b, storedRecords()))
	m.LoadCompleted(&storagev1.LoadCompleted{Loaded: benchPeers})
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		eff := m.ConnectToRelayPeers(now)
		if len(eff.Dials) != min(m.targets.OutRelayPeers, m.cfg.MaxParallelDials) {
			b.Fatalf("%d dials", len(eff.Dials))
		}
		clear(m.dialing) // as if the pool answered: the next round scans again
	}
	// CPU time is what the tick costs; on a shared machine the wall time
	// (ns/op) also counts the time other processes held the cores.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(m.Len()), "peers")
}

// processCPU is the process's user+system CPU time in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkPrunePeerStore100k prunes 10% of a 100,000-peer store.
func BenchmarkPrunePeerStore100k(b *testing.B) {
	raw := storedRecords()
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		m, _ := NewManager(benchConfig(), pid(self))
		m.LoadFromStorage(decodeBatch(b, raw))
		// The capacity shrinks after the load (a load already keeps the
		// books within it): the tick then has a tenth to prune.
		m.cfg.PeerStoreCapacity = benchPeers * 9 / 10
		b.StartTimer()
		if eff := m.PrunePeerStore(now); len(eff.Deletes) != benchPeers/10 {
			b.Fatalf("pruned %d", len(eff.Deletes))
		}
	}
}

// BenchmarkMemoryPerPeer loads 100,000 stored records into a manager and
// reports the heap the manager holds per record (runtime.MemStats after a
// GC, decoded protos dropped). Target: < 1 KiB.
func BenchmarkMemoryPerPeer(b *testing.B) {
	raw := storedRecords()
	var perPeer float64
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, _ := NewManager(benchConfig(), pid(self))
		batch := decodeBatch(b, raw)
		m.LoadFromStorage(batch)
		batch = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPeer = float64(after.HeapAlloc-before.HeapAlloc) / float64(m.Len())
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perPeer, "bytes/record")
}

// BenchmarkPeerConnectedDisconnected is the cost of one connect and one
// disconnect event of an inbound relay peer in a 100,000-peer store with 12
// connections (colocation, max-connection and inbound checks included).
func BenchmarkPeerConnectedDisconnected(b *testing.B) {
	m, _ := NewManager(benchConfig(), pid(self))
	m.LoadFromStorage(decodeBatch(b, storedRecords()))
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := 2; i <= 13; i++ {
		m.OnPeerConnected(&pmv1.PeerConnected{PeerId: []byte(pid(i)), Direction: peerv1.Direction_DIRECTION_OUTBOUND, RemoteIp: "10.0.0.1"}, now)
	}
	conn := &pmv1.PeerConnected{PeerId: []byte(pid(1)), Direction: peerv1.Direction_DIRECTION_INBOUND, RemoteIp: "10.0.0.2"}
	disc := &pmv1.PeerDisconnected{PeerId: []byte(pid(1))}
	b.ReportAllocs()
	for b.Loop() {
		m.OnPeerConnected(conn, now)
		m.OnPeerDisconnected(disc, now)
	}
}
