package storage

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/timestamppb"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// testTime is a fixed instant for record timestamps.
var testTime = time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)

// testID is a deterministic binary peer id.
func testID(i int) []byte { return fmt.Appendf(nil, "peer-%06d", i) }

// testRecord fills every field of PeerRecord so that round trips are checked
// field by field.
func testRecord(i int) *peerv1.PeerRecord {
	return &peerv1.PeerRecord{
		PeerId:          testID(i),
		Addresses:       [][]byte{fmt.Appendf(nil, "/ip4/10.0.%d.%d/tcp/60000", i/256%256, i%256), []byte("/dns4/example.org/tcp/443/wss")},
		Protocols:       []string{"/vac/waku/relay/2.0.0", "/meshsub/1.1.0"},
		PublicKey:       fmt.Appendf(nil, "pubkey-%d-0123456789abcdef0123456789abcdef", i),
		Agent:           "nwaku/v0.36.0",
		ProtocolVersion: "ipfs/0.1.0",
		Origin:          peerv1.Origin_ORIGIN_DISCV5,
		Connectedness:   peerv1.Connectedness_CONNECTEDNESS_CAN_CONNECT,
		Direction:       peerv1.Direction_DIRECTION_OUTBOUND,
		DisconnectTime:  timestamppb.New(testTime.Add(-time.Hour)),
		FailedAttempts:  uint32(i % 5),
		LastFailureTime: timestamppb.New(testTime.Add(-time.Minute)),
		Shards:          []uint32{0, uint32(i % 8)},
	}
}

// testConfig is the default config with the file in a test directory.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "peers.db")
	return cfg
}

func mustOpenBolt(t testing.TB, cfg Config) *Bolt {
	t.Helper()
	b, err := OpenBolt(cfg)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	return b
}

// loadAll collects every record of b, failing the test on error.
func loadAll(t testing.TB, b Backend, batchSize int) ([]*peerv1.PeerRecord, LoadResult, []int) {
	t.Helper()
	var recs []*peerv1.PeerRecord
	var sizes []int
	res, err := b.LoadAll(batchSize, func(batch []*peerv1.PeerRecord) error {
		recs = append(recs, batch...)
		sizes = append(sizes, len(batch))
		return nil
	})
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	return recs, res, sizes
}

// quietSystem is an actor system that logs nothing, for the child process
// of the crash tests and for benchmarks (tests use actortest.NewSystem).
func quietSystem() (*actor.ActorSystem, *slog.Logger) {
	quiet := slog.New(slog.DiscardHandler)
	return actor.NewActorSystemWithConfig(actor.Configure(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))), quiet
}
