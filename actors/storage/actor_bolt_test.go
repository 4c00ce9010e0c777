package storage

import (
	"testing"
	"testing/synctest"

	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// TestActorOnBoltRoundTripAndCorruptRecord runs the actor on a real bbolt
// file inside a bubble: Put, Flush, stop, a planted corrupt record, then a
// new actor on the reopened file loads the good records and counts the bad.
func TestActorOnBoltRoundTripAndCorruptRecord(t *testing.T) {
	cfg := testConfig(t)
	bubble.Test(t, func(t *testing.T) {
		be := mustOpenBolt(t, cfg)
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be}))
		for i := range 5 {
			p.Send(pid, &storagev1.Put{Record: testRecord(i)})
		}
		p.Send(pid, &storagev1.Delete{PeerId: testID(4)})
		p.Request(pid, &storagev1.Flush{})
		p.ExpectMessage(&storagev1.Flushed{Written: 5})
		p.Watch(pid)
		sys.Root.Stop(pid)
		p.ExpectTerminated(pid)
		if err := be.Close(); err != nil {
			t.Fatal(err)
		}
	})
	rawPut(t, cfg.Path, peersBucket, testID(9), []byte("rotten"))
	bubble.Test(t, func(t *testing.T) {
		be := mustOpenBolt(t, cfg)
		defer be.Close()
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be}))
		p.Request(pid, &storagev1.LoadAll{BatchSize: 3})
		a := actortest.Expect[*storagev1.LoadBatch](p)
		b := actortest.Expect[*storagev1.LoadBatch](p)
		p.ExpectMessage(&storagev1.LoadCompleted{Loaded: 4, Skipped: 1})
		got := append(a.GetRecords(), b.GetRecords()...)
		for i, r := range got {
			if !proto.Equal(r, testRecord(i)) {
				t.Fatalf("record %d = %v, want %v", i, r, testRecord(i))
			}
		}
	})
}

// TestActorRestartWritesPendingChanges: when the actor fails and its
// supervisor restarts it, the changes it had accepted are written before the
// new incarnation starts, and the new incarnation works.
func TestActorRestartWritesPendingChanges(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		be := &panickyBackend{fakeBackend: newFakeBackend()}
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Backend: be}))
		p.Send(pid, &storagev1.Put{Record: testRecord(1)})
		p.Send(pid, &storagev1.Put{Record: testRecord(2)})
		p.Request(pid, &storagev1.LoadAll{}) // panics: the actor restarts
		synctest.Wait()
		if be.Len() != 2 {
			t.Fatalf("%d records durable after the restart, want the 2 pending", be.Len())
		}
		p.Send(pid, &storagev1.Put{Record: testRecord(3)})
		p.Request(pid, &storagev1.Flush{})
		p.ExpectMessage(&storagev1.Flushed{Written: 1})
		p.Request(pid, &storagev1.LoadAll{})
		actortest.Expect[*storagev1.LoadBatch](p)
		p.ExpectMessage(&storagev1.LoadCompleted{Loaded: 3})
	})
}
