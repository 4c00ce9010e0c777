// Package storage is the storage actor: it persists peer records
// (peerv1.PeerRecord) for the peer manager so that the peer store, including
// backoff state (failed attempts, last failure), survives a crash or restart.
//
// # What it owns
//
// One Backend, opened by the node with Open before the actor starts: bbolt (a
// file, the default) or Memory (tests). Nothing else touches the backend
// while the actor lives; the node closes it after the actor has stopped.
//
// # Messages (messages/storage/v1)
//
//   - Put, Delete: write-behind, no answer. Changes coalesce per peer id: only
//     the last operation for a peer is written.
//   - Flush (Request): answered with Flushed once every Put and Delete
//     received before it is durable (the backend transaction has returned);
//     Flushed.error is set when it is not (the write failed, or changes were
//     refused since the previous Flush).
//   - LoadAll (Request): answered with LoadBatch messages of at most
//     batch_size records, then one LoadCompleted{loaded, skipped, error}. The
//     load sees changes that are accepted but not yet durable.
//   - heartbeatv1.Tick named Config.TickName: writes whatever is pending.
//   - WriteCompleted: internal, from the actor's own writer goroutine.
//
// # When data is written
//
// On each tick (Config.FlushInterval, 1 s by default), as soon as
// Config.FlushThreshold changes are pending, on Flush, and on stop or restart
// (synchronously, before the actor goes away). Each write is one bbolt
// transaction, committed with fsync, so: an acknowledged Flush survives
// kill -9 and power loss (on storage that honours fsync); without a Flush,
// at most FlushInterval of changes can be lost on a crash; never a torn
// record.
//
// # On disk
//
// A "meta" bucket holds the schema version (SchemaVersion); a "peers" bucket
// maps the binary peer id to an envelope: format byte, CRC-32C, marshalled
// PeerRecord. Opening a file with a newer schema version, a corrupt or
// truncated file, or a bbolt file of something else fails with an error that
// names the path (ErrNewerSchema, ErrCorrupt, ErrForeign): the node must
// refuse to start rather than start empty and overwrite what it cannot read.
// With Config.CheckOnOpen (default) every key is walked at open, with
// memory faults from damaged pages turned into ErrCorrupt; bbolt's Tx.Check
// is not used because it reads on a goroutine of its own, where such a fault
// kills the process. A new file's directory is fsync'd once, so the file
// itself survives a power loss.
// A single record that fails its checksum or does not decode is skipped,
// counted (peermesh_storage_errors_total{type="decode"}) and logged; the
// others load.
//
// # Bounds
//
// Config.MaxPending (pending plus in-flight changes; when full, changes for
// new peers are dropped and counted and the next Flushed reports it),
// Config.MaxFlushWaiters, Config.MaxRecordBytes, Config.MaxPeerIDBytes,
// Config.MaxFileBytes, Config.LoadBatchSize. When the backend fails, the
// batch returns to the pending set, waiting Flush requests get the error,
// threshold-driven writes pause and every tick retries.
//
// # Sources of messages (ADR 0005)
//
// The mailbox is protoactor's unbounded one; its sources are bounded: Put and
// Delete come from the peer manager, whose peer store is bounded, and any
// excess beyond MaxPending is refused at once; Flush requests beyond
// MaxFlushWaiters are answered at once; LoadAll comes once at start; the
// heartbeat coalesces missed ticks; the writer goroutine has at most one
// WriteCompleted outstanding. Refused changes are logged once per reason
// between two ticks, with a count at the tick, so bad input cannot flood the
// log.
//
// # Threading
//
// The policy is the pure core WriteBehind (no I/O, no clock, no goroutines).
// The actor runs at most one backend write at a time on a goroutine it owns,
// which reports back with WriteCompleted; LoadAll runs on the actor's own
// goroutine. Metrics go to Deps.Registerer under peermesh_storage_*.
package storage
