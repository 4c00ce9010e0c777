package storage

import (
	"bytes"
	"fmt"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// Backend is where peer records live. Implementations must make WriteBatch
// atomic and durable: when it returns nil, every put and delete of the batch
// survives a process crash, and when it returns an error none or all of them
// do (never a part). The storage actor calls WriteBatch from one goroutine at
// a time, possibly concurrently with LoadAll; Close is called by whoever
// opened the backend, after the actor has stopped.
type Backend interface {
	// WriteBatch stores puts (replacing records with the same peer id) and
	// removes deletes (peer ids; absent ids are not an error) in one
	// transaction. A peer id appears at most once across both lists.
	WriteBatch(puts []*peerv1.PeerRecord, deletes [][]byte) error
	// LoadAll decodes every stored record in peer id order and passes them
	// to fn in batches of at most batchSize; fn owns each batch. A value that
	// cannot be decoded is skipped and counted, and loading continues. An
	// error from fn stops the load and is returned.
	LoadAll(batchSize int, fn func(batch []*peerv1.PeerRecord) error) (LoadResult, error)
	// Close releases the backend. Further calls fail.
	Close() error
}

// LoadResult reports what LoadAll did.
type LoadResult struct {
	// Loaded counts the records passed to fn.
	Loaded int
	// Skipped counts stored values that could not be decoded.
	Skipped int
	// Skips holds the errors of the first maxSkipDetails skipped values
	// (each wraps ErrCorruptRecord and names the key), for logging.
	Skips []error
}

// maxSkipDetails bounds LoadResult.Skips so a badly damaged file cannot make
// the result (or the log) grow with it.
const maxSkipDetails = 8

// Open creates the backend cfg asks for. For the bolt backend a file that
// is corrupt, carries a newer schema version or belongs to something else is
// an error naming the path, so the node refuses to start instead of starting
// empty and overwriting what it cannot read.
func Open(cfg Config) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Backend {
	case BackendMemory:
		return NewMemory(cfg), nil
	default:
		return OpenBolt(cfg)
	}
}

// loader turns a stream of (key, value) pairs into decoded batches; both
// backends feed it so they skip, count and batch identically.
type loader struct {
	batchSize int
	maxBytes  int
	fn        func([]*peerv1.PeerRecord) error
	batch     []*peerv1.PeerRecord
	res       LoadResult
	prev      []byte // the previous key; valid for the whole load
}

func newLoader(batchSize, maxBytes int, fn func([]*peerv1.PeerRecord) error) *loader {
	return &loader{batchSize: max(batchSize, 1), maxBytes: maxBytes, fn: fn}
}

// add decodes one value; value may be reused by the caller after add
// returns, key must stay valid until the load ends. Keys must arrive in
// strictly increasing order: anything else means a damaged tree (a cycle
// would otherwise never end), and the load stops with ErrCorrupt.
func (l *loader) add(key, value []byte) error {
	if l.prev != nil && bytes.Compare(l.prev, key) >= 0 {
		return fmt.Errorf("%w: key %x after %x is out of order", ErrCorrupt, key, l.prev)
	}
	l.prev = key
	rec, err := decodeRecord(key, value, l.maxBytes)
	if err != nil {
		l.res.Skipped++
		if len(l.res.Skips) < maxSkipDetails {
			l.res.Skips = append(l.res.Skips, err)
		}
		return nil
	}
	if l.batch == nil {
		l.batch = make([]*peerv1.PeerRecord, 0, l.batchSize)
	}
	l.batch = append(l.batch, rec)
	if len(l.batch) >= l.batchSize {
		return l.emit()
	}
	return nil
}

func (l *loader) emit() error {
	batch := l.batch
	l.batch = nil
	if err := l.fn(batch); err != nil {
		return fmt.Errorf("load batch: %w", err)
	}
	l.res.Loaded += len(batch)
	return nil
}

// finish emits the last partial batch.
func (l *loader) finish() (LoadResult, error) {
	if len(l.batch) > 0 {
		if err := l.emit(); err != nil {
			return l.res, err
		}
	}
	return l.res, nil
}
