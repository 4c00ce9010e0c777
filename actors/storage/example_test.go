package storage_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/peermesh/peermesh/actors/storage"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// The node opens the backend itself, before spawning the actor, so that a
// corrupt file or one from a newer version stops it with an error naming the
// path; then the peer manager talks to the actor with messages only.
func Example() {
	dir, err := os.MkdirTemp("", "peermesh-storage-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	cfg := storage.DefaultConfig()
	cfg.Path = filepath.Join(dir, "peers.db")
	backend, err := storage.Open(cfg)
	if err != nil {
		fmt.Println("refusing to start:", err)
		return
	}
	defer backend.Close() // after the actor has stopped

	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	store := sys.Root.Spawn(storage.Props(cfg, storage.Deps{
		Backend:    backend,
		Registerer: prometheus.NewRegistry(),
		Logger:     quiet,
	}))

	// Write-behind: Puts are coalesced; Flush answers once they are on disk.
	for _, id := range []string{"peer-b", "peer-a", "peer-b"} {
		sys.Root.Send(store, &storagev1.Put{Record: &peerv1.PeerRecord{
			PeerId:    []byte(id),
			Protocols: []string{"/vac/waku/relay/2.0.0"},
		}})
	}
	res, err := sys.Root.RequestFuture(store, &storagev1.Flush{}, 5*time.Second).Result()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("durable changes:", res.(*storagev1.Flushed).GetWritten())

	// LoadAll streams LoadBatch messages, then LoadCompleted, to the sender.
	done := make(chan struct{})
	loader := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *storagev1.LoadBatch:
			for _, r := range m.GetRecords() {
				fmt.Println("loaded", string(r.GetPeerId()))
			}
		case *storagev1.LoadCompleted:
			fmt.Println("completed:", m.GetLoaded(), "loaded,", m.GetSkipped(), "skipped")
			close(done)
		}
	}))
	sys.Root.RequestWithCustomSender(store, &storagev1.LoadAll{}, loader)
	<-done

	// Stopping the actor writes whatever is still pending.
	if err := sys.Root.StopFuture(store).Wait(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// durable changes: 2
	// loaded peer-a
	// loaded peer-b
	// completed: 2 loaded, 0 skipped
}
