package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// SchemaVersion is the layout version written to the meta bucket of a new
// file. A file with a higher version was written by a newer peermesh and is
// refused rather than misread.
const SchemaVersion uint32 = 1

var (
	metaBucket  = []byte("meta")
	peersBucket = []byte("peers")
	schemaKey   = []byte("schema_version")
)

// Errors that Open and OpenBolt wrap (test with errors.Is). Each returned
// error also names the file.
var (
	// ErrCorrupt: the file is not a readable bbolt file, fails the
	// consistency check, is truncated, or lacks its schema version.
	ErrCorrupt = errors.New("peer store file is corrupt")
	// ErrNewerSchema: the file carries a schema version above SchemaVersion.
	ErrNewerSchema = errors.New("peer store file has a newer schema version")
	// ErrForeign: the file is a bbolt file of something else.
	ErrForeign = errors.New("file is not a peermesh peer store")
	// ErrLocked: another process holds the file open.
	ErrLocked = errors.New("peer store file is locked by another process")
)

// Bolt is the bbolt Backend: one file, a "meta" bucket holding the schema
// version and a "peers" bucket of envelopes (see record.go) keyed by the
// binary peer id. Every WriteBatch is one fsync'd read-write transaction.
type Bolt struct {
	db       *bolt.DB
	path     string
	maxID    int
	maxBytes int
}

// OpenBolt opens or creates the bbolt file at cfg.Path and checks it: the
// schema version, and with cfg.CheckOnOpen bbolt's page consistency check.
// Every error names the path and wraps ErrCorrupt, ErrNewerSchema, ErrForeign
// or ErrLocked where one applies.
func OpenBolt(cfg Config) (*Bolt, error) {
	path := cfg.Path
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	db, err := openGuarded(path, &bolt.Options{
		Timeout:      cfg.OpenTimeout,
		MaxSize:      int(cfg.MaxFileBytes),
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, err
	}
	b := &Bolt{db: db, path: path, maxID: cfg.MaxPeerIDBytes, maxBytes: cfg.MaxRecordBytes}
	if err := b.checkFile(cfg.CheckOnOpen); err != nil {
		_ = db.Close()
		return nil, err
	}
	if created {
		// bbolt fsyncs the file, not the directory entry naming it: without
		// this, a power loss soon after the first flushes could lose the
		// whole new file even though its writes were acknowledged.
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open peer store %s: %w", path, err)
		}
	}
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// openGuarded opens the file with faults turned into panics and recovered:
// bbolt reads the memory-mapped file directly and a damaged file can make it
// panic or fault, which must become an error, not a crash loop.
func openGuarded(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("open peer store %s: %w: %v", path, ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, opts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open peer store %s: %w (waited %s)", path, ErrLocked, opts.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("open peer store %s: %w: %w", path, ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("open peer store %s: %w", path, err)
	}
}

// checkFile creates the buckets of a new file, verifies the schema version of
// an existing one and, if asked, runs the consistency check.
func (b *Bolt) checkFile(consistency bool) error {
	if err := b.checkSize(); err != nil {
		return err
	}
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(metaBucket)
			if meta == nil {
				return initFile(tx)
			}
			v := meta.Get(schemaKey)
			if len(v) != 4 {
				return fmt.Errorf("%w: schema version is missing or malformed (%d bytes)", ErrCorrupt, len(v))
			}
			switch ver := binary.BigEndian.Uint32(v); {
			case ver > SchemaVersion:
				return fmt.Errorf("%w: file version %d, this build reads up to %d", ErrNewerSchema, ver, SchemaVersion)
			case ver < 1:
				return fmt.Errorf("%w: schema version %d is invalid", ErrCorrupt, ver)
			}
			if tx.Bucket(peersBucket) == nil {
				return fmt.Errorf("%w: the peers bucket is missing", ErrCorrupt)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("open peer store %s: %w", b.path, err)
	}
	if !consistency {
		return nil
	}
	if err := b.walk(); err != nil {
		return fmt.Errorf("open peer store %s: %w: consistency check: %w", b.path, ErrCorrupt, err)
	}
	return nil
}

// walk is the consistency check on open: it visits every key of every
// bucket, in order, under the fault guard, so a damaged branch or leaf page
// is found here and refused with an error instead of later. bbolt's own
// Tx.Check is not used: it runs on a goroutine of its own, where a damaged
// page faults the whole process (found by TestBoltDamagedPagesNeverCrash),
// and a node must refuse a bad file, not crash-loop on it.
func (b *Bolt) walk() error {
	return b.guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
				var prev []byte
				c := bk.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if prev != nil && bytes.Compare(prev, k) >= 0 {
						return fmt.Errorf("bucket %q: key %x after %x is out of order", name, k, prev)
					}
					prev = k
				}
				return nil
			})
		})
	})
}

// checkSize refuses a file shorter than its own high-water mark: bbolt would
// fault reading pages past the end of a truncated file.
func (b *Bolt) checkSize() error {
	st, err := os.Stat(b.path)
	if err != nil {
		return fmt.Errorf("open peer store %s: %w", b.path, err)
	}
	return b.db.View(func(tx *bolt.Tx) error {
		if need := tx.Size(); need > st.Size() {
			return fmt.Errorf("open peer store %s: %w: file is %d bytes, its pages need %d (truncated)", b.path, ErrCorrupt, st.Size(), need)
		}
		return nil
	})
}

func initFile(tx *bolt.Tx) error {
	// A bbolt file that already holds other buckets belongs to someone else;
	// adding ours to it would hide that mistake.
	foreign := false
	_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		foreign = true
		return nil
	})
	if foreign {
		return ErrForeign
	}
	meta, err := tx.CreateBucket(metaBucket)
	if err != nil {
		return fmt.Errorf("create meta bucket: %w", err)
	}
	if err := meta.Put(schemaKey, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
		return fmt.Errorf("write schema version: %w", err)
	}
	if _, err := tx.CreateBucket(peersBucket); err != nil {
		return fmt.Errorf("create peers bucket: %w", err)
	}
	return nil
}

// guard runs fn with faults and panics from bbolt's page reads turned into
// an ErrCorrupt error.
func (b *Bolt) guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return fn()
}

// Path is the file the backend writes.
func (b *Bolt) Path() string { return b.path }

// WriteBatch implements Backend: one read-write transaction, committed with
// bbolt's two fsyncs (data pages, then the meta page).
func (b *Bolt) WriteBatch(puts []*peerv1.PeerRecord, deletes [][]byte) error {
	err := b.guard(func() error {
		return b.db.Update(func(tx *bolt.Tx) error {
			peers := tx.Bucket(peersBucket)
			// bbolt keeps each value slice until commit, so values are
			// appended to one arena and never overwritten; a grow of the
			// arena leaves the slices already handed out intact.
			total := 0
			for _, rec := range puts {
				total += recordHeaderLen + proto.Size(rec)
			}
			arena := make([]byte, 0, total)
			for _, rec := range puts {
				start := len(arena)
				var err error
				if arena, err = appendRecord(arena, rec, b.maxID, b.maxBytes); err != nil {
					return err
				}
				if err := peers.Put(rec.GetPeerId(), arena[start:len(arena):len(arena)]); err != nil {
					return fmt.Errorf("put %x: %w", rec.GetPeerId(), err)
				}
			}
			for _, id := range deletes {
				if err := peers.Delete(id); err != nil {
					return fmt.Errorf("delete %x: %w", id, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("write %d puts and %d deletes to peer store %s: %w", len(puts), len(deletes), b.path, err)
	}
	return nil
}

// LoadAll implements Backend in one read transaction. A fault while reading
// the file ends the load with an ErrCorrupt error naming the path.
func (b *Bolt) LoadAll(batchSize int, fn func([]*peerv1.PeerRecord) error) (LoadResult, error) {
	l := newLoader(batchSize, b.maxBytes, fn)
	err := b.guard(func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(peersBucket).ForEach(l.add)
		})
	})
	if err != nil {
		return l.res, fmt.Errorf("load peer store %s: %w", b.path, err)
	}
	res, err := l.finish()
	if err != nil {
		return res, fmt.Errorf("load peer store %s: %w", b.path, err)
	}
	return res, nil
}

// Close implements Backend.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close peer store %s: %w", b.path, err)
	}
	return nil
}
