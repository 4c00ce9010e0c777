package storage

import (
	"runtime"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

func benchRecords(n int) []*peerv1.PeerRecord {
	recs := make([]*peerv1.PeerRecord, n)
	for i := range recs {
		recs[i] = testRecord(i)
	}
	return recs
}

func benchBolt(b *testing.B) *Bolt {
	b.Helper()
	be := mustOpenBolt(b, testConfig(b))
	b.Cleanup(func() { _ = be.Close() })
	return be
}

// BenchmarkActorPutFlush10k: 10,000 Puts to the storage actor (on bbolt)
// and one Flush, until Flushed; the threshold flushes on the way are
// included, as in production.
func BenchmarkActorPutFlush10k(b *testing.B) {
	recs := benchRecords(10_000)
	cfg := testConfig(b)
	be := mustOpenBolt(b, cfg)
	defer be.Close()
	sys, quiet := quietSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be, Logger: quiet}))
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			sys.Root.Send(pid, &storagev1.Put{Record: r})
		}
		res, err := sys.Root.RequestFuture(pid, &storagev1.Flush{}, time.Minute).Result()
		if f, ok := res.(*storagev1.Flushed); err != nil || !ok || f.GetError() != "" {
			b.Fatalf("flush: %v %v", res, err)
		}
	}
}

// BenchmarkBoltWriteBatch10k: one fsync'd transaction of 10,000 puts.
func BenchmarkBoltWriteBatch10k(b *testing.B) {
	recs := benchRecords(10_000)
	be := benchBolt(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := be.WriteBatch(recs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoltLoadAll100k: LoadAll of 100,000 records in batches of 256.
// B/record is all memory allocated per record, the decoded record included.
func BenchmarkBoltLoadAll100k(b *testing.B) {
	const n = 100_000
	be := benchBolt(b)
	if err := be.WriteBatch(benchRecords(n), nil); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	loops := 0
	b.ReportAllocs()
	for b.Loop() {
		loops++
		res, err := be.LoadAll(256, func([]*peerv1.PeerRecord) error { return nil })
		if err != nil || res.Loaded != n {
			b.Fatalf("loaded %d: %v", res.Loaded, err)
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(loops*n), "B/record")
}

// BenchmarkDecodeRecord is the cost of one record itself: decoding one
// envelope allocates the PeerRecord and its fields, nothing else. Compare
// its B/op with BenchmarkBoltLoadAll100k's B/record for LoadAll's overhead.
func BenchmarkDecodeRecord(b *testing.B) {
	v, err := appendRecord(nil, testRecord(42), 128, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	key := testID(42)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeRecord(key, v, 1<<16); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActorLoadAll100k: LoadAll of 100,000 records through the storage
// actor (on bbolt) until LoadCompleted reaches the requester.
func BenchmarkActorLoadAll100k(b *testing.B) {
	const n = 100_000
	cfg := testConfig(b)
	be := mustOpenBolt(b, cfg)
	defer be.Close()
	if err := be.WriteBatch(benchRecords(n), nil); err != nil {
		b.Fatal(err)
	}
	sys, quiet := quietSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be, Logger: quiet}))
	completed := make(chan *storagev1.LoadCompleted, 1)
	requester := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*storagev1.LoadCompleted); ok {
			completed <- m
		}
	}))
	b.ReportAllocs()
	for b.Loop() {
		sys.Root.RequestWithCustomSender(pid, &storagev1.LoadAll{}, requester)
		if m := <-completed; m.GetLoaded() != n {
			b.Fatalf("LoadCompleted %v", m)
		}
	}
}

// BenchmarkBoltOpen100k: OpenBolt of a file of 100,000 records, with the
// consistency walk (CheckOnOpen, the default): the node's start-up cost.
func BenchmarkBoltOpen100k(b *testing.B) {
	cfg := testConfig(b)
	be := mustOpenBolt(b, cfg)
	if err := be.WriteBatch(benchRecords(100_000), nil); err != nil {
		b.Fatal(err)
	}
	be.Close()
	b.ReportAllocs()
	for b.Loop() {
		mustOpenBolt(b, cfg).Close()
	}
}
