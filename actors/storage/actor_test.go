package storage

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actors/heartbeat"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// harness is one storage actor over a fake backend, a probe and a registry.
type harness struct {
	sys *actor.ActorSystem
	p   *actortest.Probe
	pid *actor.PID
	be  *fakeBackend
	reg *prometheus.Registry
	m   *metrics
}

func newHarness(t *testing.T, cfg Config, deps Deps) *harness {
	t.Helper()
	h := &harness{be: newFakeBackend(), reg: prometheus.NewRegistry()}
	h.sys = actortest.NewSystem(t)
	h.p = actortest.NewProbe(t, h.sys)
	if deps.Backend == nil {
		deps.Backend = h.be
	}
	deps.Registerer = h.reg
	h.m, _ = newMetrics(h.reg) // the same collectors the actor registers
	h.pid = h.sys.Root.Spawn(Props(cfg, deps))
	return h
}

func (h *harness) put(recs ...*peerv1.PeerRecord) {
	for _, r := range recs {
		h.p.Send(h.pid, &storagev1.Put{Record: r})
	}
}

func (h *harness) tick(name string) {
	h.p.Send(h.pid, &heartbeatv1.Tick{Name: name})
}

func (h *harness) errorsOf(typ string) float64 {
	return testutil.ToFloat64(h.m.errors.WithLabelValues(typ))
}

func TestActorFlushIsAnsweredOnlyAfterTheWriteReturned(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		h.be.hold()
		h.put(testRecord(1), testRecord(2), testRecord(3))
		h.p.Request(h.pid, &storagev1.Flush{})
		h.p.ExpectNoMessage(time.Minute)
		if n := len(h.be.writeLog()); n != 1 {
			t.Fatalf("%d writes started, want 1 (held)", n)
		}
		if h.be.Len() != 0 {
			t.Fatal("records stored before the write was released")
		}
		h.be.release()
		h.p.ExpectMessage(&storagev1.Flushed{Written: 3})
		if h.be.Len() != 3 {
			t.Fatalf("%d records durable after Flushed, want 3", h.be.Len())
		}
		if got := testutil.ToFloat64(h.m.written.WithLabelValues("put")); got != 3 {
			t.Errorf("changes_written_total{op=put} = %v, want 3", got)
		}
		if got := testutil.CollectAndCount(h.m.flushSecs); got != 1 {
			t.Errorf("flush histogram has %d series", got)
		}
	})
}

func TestActorCoalescesOneWritePerPeer(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		v1, v2 := testRecord(1), testRecord(1)
		v2.FailedAttempts = 4
		h.put(v1, v2, testRecord(2))
		h.p.Send(h.pid, &storagev1.Delete{PeerId: testID(2)}) // put then delete: delete
		h.p.Send(h.pid, &storagev1.Delete{PeerId: testID(3)})
		h.put(testRecord(3)) // delete then put: put
		h.p.Request(h.pid, &storagev1.Flush{})
		h.p.ExpectMessage(&storagev1.Flushed{Written: 3})
		log := h.be.writeLog()
		want := fakeWrite{puts: []string{string(testID(1)), string(testID(3))}, deletes: []string{string(testID(2))}}
		if len(log) != 1 || !slices.Equal(log[0].puts, want.puts) || !slices.Equal(log[0].deletes, want.deletes) {
			t.Fatalf("writes %+v, want one write %+v", log, want)
		}
		recs, _, _ := loadAll(t, h.be, 10)
		if len(recs) != 2 || !proto.Equal(recs[0], v2) {
			t.Fatalf("stored %v, want the last put of peer 1 and peer 3", recs)
		}
	})
}

func TestActorTickFlushes(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		h := newHarness(t, cfg, Deps{})
		h.put(testRecord(1))
		h.tick("someone.else")
		synctest.Wait()
		if len(h.be.writeLog()) != 0 {
			t.Fatal("a tick of another name flushed")
		}
		h.tick(cfg.TickName)
		synctest.Wait()
		if n := len(h.be.writeLog()); n != 1 || h.be.Len() != 1 {
			t.Fatalf("%d writes, %d stored; want the tick's one write", n, h.be.Len())
		}
		h.p.Request(h.pid, &storagev1.Flush{}) // nothing left pending
		h.p.ExpectMessage(&storagev1.Flushed{Written: 0})
		h.tick(cfg.TickName) // nothing pending: no empty transaction
		synctest.Wait()
		if n := len(h.be.writeLog()); n != 1 {
			t.Fatalf("%d writes after an idle tick, want 1", n)
		}
	})
}

func TestActorPendingThresholdFlushes(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.FlushThreshold = 3
		h := newHarness(t, cfg, Deps{})
		h.put(testRecord(1), testRecord(2), testRecord(1))
		synctest.Wait()
		if n := len(h.be.writeLog()); n != 0 {
			t.Fatalf("%d writes with 2 peers pending, threshold 3", n)
		}
		if got := testutil.ToFloat64(h.m.pending); got != 2 {
			t.Errorf("pending_changes = %v, want 2", got)
		}
		h.put(testRecord(3))
		synctest.Wait()
		if n := len(h.be.writeLog()); n != 1 || h.be.Len() != 3 {
			t.Fatalf("%d writes, %d stored; want 1 write of 3", n, h.be.Len())
		}
		if got := testutil.ToFloat64(h.m.pending); got != 0 {
			t.Errorf("pending_changes = %v after the write, want 0", got)
		}
	})
}

func TestActorLoadAllBatchesAndOverlaysPending(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		var stored []*peerv1.PeerRecord
		for i := range 10 {
			stored = append(stored, testRecord(i))
		}
		if err := h.be.Memory.WriteBatch(stored, nil); err != nil {
			t.Fatal(err)
		}
		newer := testRecord(5)
		newer.FailedAttempts = 3
		h.put(newer, testRecord(20))
		h.p.Send(h.pid, &storagev1.Delete{PeerId: testID(0)})
		h.p.Request(h.pid, &storagev1.LoadAll{BatchSize: 4})
		var got []*peerv1.PeerRecord
		var sizes []int
		for {
			r, ok := h.p.Next(actortest.DefaultTimeout)
			if !ok {
				t.Fatal("LoadAll did not complete")
			}
			if b, isBatch := r.Message.(*storagev1.LoadBatch); isBatch {
				got = append(got, b.GetRecords()...)
				sizes = append(sizes, len(b.GetRecords()))
				continue
			}
			done, isDone := r.Message.(*storagev1.LoadCompleted)
			if !isDone {
				t.Fatalf("unexpected %T", r.Message)
			}
			if done.GetLoaded() != 10 || done.GetSkipped() != 0 || done.GetError() != "" {
				t.Fatalf("LoadCompleted %v, want 10 loaded", done)
			}
			break
		}
		for _, n := range sizes {
			if n < 1 || n > 4 {
				t.Fatalf("batch sizes %v exceed the requested 4", sizes)
			}
		}
		ids := map[string]*peerv1.PeerRecord{}
		for _, r := range got {
			ids[string(r.GetPeerId())] = r
		}
		if len(ids) != 10 || ids[string(testID(0))] != nil || ids[string(testID(20))] == nil {
			t.Fatalf("loaded %d distinct peers; want 1..9 and 20 (0 deleted)", len(ids))
		}
		if !proto.Equal(ids[string(testID(5))], newer) {
			t.Errorf("peer 5 loaded as %v, want the pending newer record", ids[string(testID(5))])
		}
	})
}

func TestActorLoadAllSkipsAndCountsCorruptRecord(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		if err := h.be.Memory.WriteBatch([]*peerv1.PeerRecord{testRecord(1), testRecord(3)}, nil); err != nil {
			t.Fatal(err)
		}
		h.be.PutRaw(testID(2), []byte{recordFormat, 1, 2, 3, 4, 0xff})
		h.p.Request(h.pid, &storagev1.LoadAll{})
		b := actortest.Expect[*storagev1.LoadBatch](h.p)
		h.p.ExpectMessage(&storagev1.LoadCompleted{Loaded: 2, Skipped: 1})
		if len(b.GetRecords()) != 2 {
			t.Fatalf("batch of %d, want 2", len(b.GetRecords()))
		}
		if got := h.errorsOf(errDecode); got != 1 {
			t.Errorf("errors_total{type=decode} = %v, want 1", got)
		}
	})
}

func TestActorWriteFailureKeepsChangesAndReportsIt(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.FlushThreshold = 2
		h := newHarness(t, cfg, Deps{})
		h.be.setFail(errors.New("disk full"))
		h.put(testRecord(1))
		h.p.Request(h.pid, &storagev1.Flush{})
		got := actortest.Expect[*storagev1.Flushed](h.p)
		if !strings.Contains(got.GetError(), "disk full") {
			t.Fatalf("Flushed %v, want the write error", got)
		}
		// Failing: reaching the threshold does not hammer the disk.
		h.put(testRecord(2), testRecord(3))
		synctest.Wait()
		if n := len(h.be.writeLog()); n != 1 {
			t.Fatalf("%d writes while failing, want only the first", n)
		}
		h.be.setFail(nil)
		h.tick(cfg.TickName) // the retry
		synctest.Wait()
		h.p.Request(h.pid, &storagev1.Flush{}) // nothing left pending
		h.p.ExpectMessage(&storagev1.Flushed{Written: 0})
		if h.be.Len() != 3 {
			t.Fatalf("%d records after the retry, want 3", h.be.Len())
		}
		if got := h.errorsOf(errWrite); got != 1 {
			t.Errorf("errors_total{type=write} = %v, want 1", got)
		}
	})
}

func TestActorPendingFullDropsNewPeersAndFlushSaysSo(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.FlushThreshold, cfg.MaxPending = 2, 3
		h := newHarness(t, cfg, Deps{})
		h.be.hold()
		h.put(testRecord(1), testRecord(2)) // threshold: write of 2 starts, held
		h.put(testRecord(3))                // pending: 3 of 3
		v2 := testRecord(3)
		v2.FailedAttempts = 4
		h.put(v2, testRecord(4)) // 3 replaces in place; 4 is dropped
		h.p.Request(h.pid, &storagev1.Flush{})
		h.be.release() // first write
		h.be.release() // the write of peer 3
		got := actortest.Expect[*storagev1.Flushed](h.p)
		if got.GetWritten() != 1 || !strings.Contains(got.GetError(), "1 changes were dropped") {
			t.Fatalf("Flushed %v, want 1 written and the drop reported", got)
		}
		if n := h.errorsOf(string(DropPendingFull)); n != 1 {
			t.Errorf("errors_total{type=pending_full} = %v, want 1", n)
		}
		recs, _, _ := loadAll(t, h.be, 10)
		if len(recs) != 3 || !proto.Equal(recs[2], v2) {
			t.Fatalf("stored %v, want peers 1, 2 and the newer 3", recs)
		}
	})
}

func TestActorInvalidPutIsCountedNotFatal(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		bad := testRecord(1)
		bad.Protocols = []string{"\xff"}
		h.p.Send(h.pid, &storagev1.Put{}) // no record at all
		h.put(bad, testRecord(2))
		h.p.Send(h.pid, &storagev1.Delete{})
		h.p.Request(h.pid, &storagev1.Flush{})
		got := actortest.Expect[*storagev1.Flushed](h.p)
		if got.GetWritten() != 1 || !strings.Contains(got.GetError(), "3 changes were dropped") {
			t.Fatalf("Flushed %v, want 1 written and 3 drops reported", got)
		}
		if n := h.errorsOf(string(DropInvalidRecord)); n != 3 {
			t.Errorf("errors_total{type=invalid_record} = %v, want 3", n)
		}
	})
}

func TestActorStopFlushesPendingChanges(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		h.be.hold()
		h.put(testRecord(1))
		h.tick(DefaultConfig().TickName) // a write in flight when the stop comes
		h.put(testRecord(2), testRecord(3))
		h.p.Request(h.pid, &storagev1.Flush{})
		synctest.Wait()
		h.p.Watch(h.pid)
		h.sys.Root.Stop(h.pid)
		h.be.release()
		h.be.release()
		// Terminated is a system message and may overtake Flushed in the
		// probe's mailbox: take both, in either order.
		var flushed *storagev1.Flushed
		for range 2 {
			r, ok := h.p.Next(actortest.DefaultTimeout)
			if !ok {
				t.Fatal("want Flushed and Terminated")
			}
			if f, isF := r.Message.(*storagev1.Flushed); isF {
				flushed = f
			}
		}
		if !proto.Equal(flushed, &storagev1.Flushed{Written: 2}) {
			t.Fatalf("Flushed %v, want 2 written", flushed)
		}
		if h.be.Len() != 3 {
			t.Fatalf("%d records after stop, want 3", h.be.Len())
		}
	})
}

func TestActorRegistersItsTickWithTheHeartbeat(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		hb := actortest.NewProbe(t, sys)
		cfg := DefaultConfig()
		cfg.FlushInterval = 2 * time.Second
		sys.Root.Spawn(Props(cfg, Deps{Backend: newFakeBackend(), Heartbeat: hb.PID()}))
		reg := actortest.Expect[*heartbeatv1.Register](hb)
		if reg.GetName() != cfg.TickName || reg.GetInterval().AsDuration() != 2*time.Second {
			t.Fatalf("Register %v, want %s every 2s", reg, cfg.TickName)
		}
		hb.Respond(&heartbeatv1.Registered{Name: reg.GetName()})
		hb.ExpectNoMessage(time.Second)
	})
}

func TestActorMetricsSurviveASecondProps(t *testing.T) {
	reg := prometheus.NewRegistry()
	be := newFakeBackend()
	Props(DefaultConfig(), Deps{Backend: be, Registerer: reg})
	Props(DefaultConfig(), Deps{Backend: be, Registerer: reg}) // must reuse, not fail
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.errors.WithLabelValues(errWrite).Inc()
	n, err := testutil.GatherAndCount(reg, "peermesh_storage_errors_total")
	if err != nil || n != 1 {
		t.Fatalf("errors_total series: %d, %v; want the one shared series", n, err)
	}
}

func TestActorLoadAllWithoutSenderIsCounted(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		h.p.Send(h.pid, &storagev1.LoadAll{})
		h.p.ExpectNoMessage(time.Second)
		if got := h.errorsOf(errInvalidRequest); got != 1 {
			t.Fatalf("errors_total{type=invalid_request} = %v, want 1", got)
		}
	})
}

func TestActorInvalidConfigStops(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		cfg := DefaultConfig()
		cfg.FlushThreshold = 0
		for _, props := range []*actor.Props{
			Props(cfg, Deps{Backend: newFakeBackend()}),
			Props(DefaultConfig(), Deps{}), // no backend
		} {
			pid := sys.Root.Spawn(props)
			synctest.Wait() // it stops while starting; a Watch could come too late
			if _, alive := sys.ProcessRegistry.GetLocal(pid.GetId()); alive {
				t.Fatalf("actor %s still running", pid)
			}
		}
	})
}

// TestActorLoadAllSeesTheWriteInFlight: a record whose write has started but
// not returned is neither lost nor stale in a LoadAll.
func TestActorLoadAllSeesTheWriteInFlight(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		h := newHarness(t, DefaultConfig(), Deps{})
		old := testRecord(2)
		if err := h.be.Memory.WriteBatch([]*peerv1.PeerRecord{old}, nil); err != nil {
			t.Fatal(err)
		}
		h.be.hold()
		newer := testRecord(2)
		newer.FailedAttempts = 4
		h.put(testRecord(1), newer)
		h.tick(DefaultConfig().TickName)                           // the write of 1 and 2 is held in flight
		h.put(testRecord(3))                                       // pending behind it
		h.p.Request(h.pid, &storagev1.LoadAll{BatchSize: 1 << 30}) // clamped, still one batch
		batch := actortest.Expect[*storagev1.LoadBatch](h.p)
		h.p.ExpectMessage(&storagev1.LoadCompleted{Loaded: 3})
		got := batch.GetRecords()
		if len(got) != 3 || !proto.Equal(got[0], testRecord(1)) || !proto.Equal(got[1], newer) || !proto.Equal(got[2], testRecord(3)) {
			t.Fatalf("loaded %v, want peers 1, the newer 2 and 3", got)
		}
		h.be.release()
	})
}

// TestActorMetricNameClashIsNotFatal: a registry holding a different metric
// under one of storage's names does not keep the actor from storing.
func TestActorMetricNameClashIsNotFatal(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_storage_errors_total", Help: "someone else's"}))
		if _, err := newMetrics(reg); err == nil || !strings.Contains(err.Error(), "storage metrics") {
			t.Fatalf("newMetrics on a clashing registry: %v, want an error naming storage metrics", err)
		}
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		be := newFakeBackend()
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Backend: be, Registerer: reg}))
		p.Send(pid, &storagev1.Put{Record: testRecord(1)})
		p.Request(pid, &storagev1.Flush{})
		p.ExpectMessage(&storagev1.Flushed{Written: 1})
		shared, _ := newMetrics(reg) // the collectors that did register are shared
		if got := testutil.ToFloat64(shared.written.WithLabelValues("put")); got != 1 {
			t.Fatalf("changes_written_total{op=put} = %v, want 1: the other metrics are exported", got)
		}
	})
}

// TestActorFlushesOnTheHeartbeatsTick runs the storage actor with the real
// heartbeat actor: with Deps.Heartbeat set and nothing else, a Put is written
// by the first tick, Config.FlushInterval (1 s by default) later, in one
// transaction, and not before.
func TestActorFlushesOnTheHeartbeatsTick(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		hb := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{}))
		be := newFakeBackend()
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Backend: be, Heartbeat: hb}))
		p := actortest.NewProbe(t, sys)
		p.Send(pid, &storagev1.Put{Record: testRecord(1)})
		p.Send(pid, &storagev1.Put{Record: testRecord(2)})
		p.ExpectNoMessage(time.Second - time.Nanosecond)
		synctest.Wait()
		if n := len(be.writeLog()); n != 0 {
			t.Fatalf("%d writes before the first tick", n)
		}
		p.ExpectNoMessage(time.Nanosecond)
		synctest.Wait()
		if log := be.writeLog(); len(log) != 1 || len(log[0].puts) != 2 || be.Len() != 2 {
			t.Fatalf("writes %+v, %d stored; want one transaction of both puts at 1 s", log, be.Len())
		}
		p.Send(pid, &storagev1.Put{Record: testRecord(3)})
		p.ExpectNoMessage(time.Second)
		synctest.Wait()
		if n := len(be.writeLog()); n != 2 || be.Len() != 3 {
			t.Fatalf("%d writes, %d stored; want the second tick's write at 2 s", n, be.Len())
		}
	})
}
