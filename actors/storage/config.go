package storage

import (
	"errors"
	"fmt"
	"time"
)

// Backend kinds accepted by Config.Backend.
const (
	// BackendBolt is a bbolt file at Config.Path: the default and the only
	// durable backend.
	BackendBolt = "bolt"
	// BackendMemory keeps records in process memory; for tests and for nodes
	// that want no persistence.
	BackendMemory = "memory"
)

// Hard ceilings that Validate enforces on top of the configured values, so a
// typo in a config file cannot ask for a gigabyte-sized batch.
const (
	maxLoadBatchSize = 1 << 16
	maxRecordCeiling = 16 << 20
)

// Config configures the storage actor and the backend that Open creates.
type Config struct {
	// Backend is BackendBolt (default) or BackendMemory.
	Backend string
	// Path is the bbolt file (for example "<data dir>/peers.db"). Required
	// for BackendBolt; its directory must exist.
	Path string
	// OpenTimeout bounds the wait for bbolt's exclusive file lock, so a
	// second node on the same file fails with an error instead of hanging.
	OpenTimeout time.Duration
	// CheckOnOpen walks every key of the file when it is opened, guarded
	// against faults from damaged pages; a failure refuses the file (an
	// error naming the path). It costs a read of the whole tree.
	CheckOnOpen bool
	// MaxFileBytes bounds the bbolt file. A transaction that would grow the
	// file beyond it fails; its changes stay pending and are retried on the
	// next tick (see MaxPending for what happens when that persists).
	// 0 means no limit.
	MaxFileBytes int64

	// TickName is the heartbeat Tick name that drives periodic flushes; the
	// actor registers it with Deps.Heartbeat when one is given.
	TickName string
	// FlushInterval is the period registered with the heartbeat actor: the
	// longest an accepted change waits before it is written (the power-loss
	// window).
	FlushInterval time.Duration
	// FlushThreshold is the number of pending changes (after coalescing per
	// peer) that starts a flush without waiting for the tick.
	FlushThreshold int
	// MaxPending bounds the changes held in memory, pending plus in flight.
	// When full (the backend is failing or slower than the producers), a
	// change for a peer that already has a pending change (not yet in
	// flight) still replaces it; a change for any other peer is dropped, counted in
	// peermesh_storage_errors_total{type="pending_full"}, and the next
	// Flushed reports the drop as an error, so no dropped change is ever
	// acknowledged as durable.
	MaxPending int
	// MaxFlushWaiters bounds the Flush requests waiting for a write. One
	// beyond it is answered at once with an error (and counted,
	// type="flush_waiters_full") instead of being queued.
	MaxFlushWaiters int

	// LoadBatchSize is the number of records per LoadBatch when the LoadAll
	// request does not say; requests asking for more than maxLoadBatchSize
	// are clamped.
	LoadBatchSize int
	// MaxRecordBytes bounds one encoded record. Larger Puts are dropped and
	// counted (type="invalid_record"); larger values on disk are skipped and
	// counted (type="decode").
	MaxRecordBytes int
	// MaxPeerIDBytes bounds the peer id (the key). libp2p ids are at most a
	// few tens of bytes; anything longer is bad input.
	MaxPeerIDBytes int
}

// DefaultConfig returns the defaults: bbolt at peers.db in the working
// directory, 1 s flush interval, flush at 512 pending changes, at most 65 536
// pending changes.
func DefaultConfig() Config {
	return Config{
		Backend:         BackendBolt,
		Path:            "peers.db",
		OpenTimeout:     time.Second,
		CheckOnOpen:     true,
		MaxFileBytes:    1 << 30,
		TickName:        "storage.flush",
		FlushInterval:   time.Second,
		FlushThreshold:  512,
		MaxPending:      1 << 16,
		MaxFlushWaiters: 1024,
		LoadBatchSize:   256,
		MaxRecordBytes:  64 << 10,
		MaxPeerIDBytes:  128,
	}
}

// Validate reports the first invalid field by name.
func (c Config) Validate() error {
	var errs []error
	switch c.Backend {
	case BackendBolt:
		if c.Path == "" {
			errs = append(errs, errors.New("storage config: Path is required for the bolt backend"))
		}
	case BackendMemory:
	default:
		errs = append(errs, fmt.Errorf("storage config: Backend %q is not %q or %q", c.Backend, BackendBolt, BackendMemory))
	}
	if c.OpenTimeout <= 0 {
		errs = append(errs, fmt.Errorf("storage config: OpenTimeout must be > 0, got %s", c.OpenTimeout))
	}
	if c.MaxFileBytes < 0 {
		errs = append(errs, fmt.Errorf("storage config: MaxFileBytes must be >= 0, got %d", c.MaxFileBytes))
	}
	if c.TickName == "" {
		errs = append(errs, errors.New("storage config: TickName must not be empty"))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("storage config: FlushInterval must be > 0, got %s", c.FlushInterval))
	}
	if c.FlushThreshold < 1 {
		errs = append(errs, fmt.Errorf("storage config: FlushThreshold must be >= 1, got %d", c.FlushThreshold))
	}
	if c.MaxPending < c.FlushThreshold {
		errs = append(errs, fmt.Errorf("storage config: MaxPending (%d) must be >= FlushThreshold (%d)", c.MaxPending, c.FlushThreshold))
	}
	if c.MaxFlushWaiters < 1 {
		errs = append(errs, fmt.Errorf("storage config: MaxFlushWaiters must be >= 1, got %d", c.MaxFlushWaiters))
	}
	if c.LoadBatchSize < 1 || c.LoadBatchSize > maxLoadBatchSize {
		errs = append(errs, fmt.Errorf("storage config: LoadBatchSize must be in [1, %d], got %d", maxLoadBatchSize, c.LoadBatchSize))
	}
	if c.MaxRecordBytes < 64 || c.MaxRecordBytes > maxRecordCeiling {
		errs = append(errs, fmt.Errorf("storage config: MaxRecordBytes must be in [64, %d], got %d", maxRecordCeiling, c.MaxRecordBytes))
	}
	if c.MaxPeerIDBytes < 1 || c.MaxPeerIDBytes > 1024 {
		errs = append(errs, fmt.Errorf("storage config: MaxPeerIDBytes must be in [1, 1024], got %d", c.MaxPeerIDBytes))
	}
	return errors.Join(errs...)
}
