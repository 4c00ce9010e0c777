package storage

import (
	"errors"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// contractBackend is one backend under the contract suite, with a way to
// plant a raw value (to test corrupt records) and to reopen it (to test that
// writes persist where the backend persists).
type contractBackend struct {
	b Backend
	// plant stores value under key bypassing the encoder and returns the
	// backend to use afterwards.
	plant func(t *testing.T, key, value []byte) Backend
}

var contractBackends = map[string]func(t *testing.T) contractBackend{
	"memory": func(t *testing.T) contractBackend {
		m := NewMemory(DefaultConfig())
		return contractBackend{b: m, plant: func(_ *testing.T, key, value []byte) Backend {
			m.PutRaw(key, value)
			return m
		}}
	},
	"bolt": func(t *testing.T) contractBackend {
		cfg := testConfig(t)
		cb := contractBackend{b: mustOpenBolt(t, cfg)}
		cb.plant = func(t *testing.T, key, value []byte) Backend {
			if err := cb.b.Close(); err != nil {
				t.Fatal(err)
			}
			rawPut(t, cfg.Path, peersBucket, key, value)
			cb.b = mustOpenBolt(t, cfg)
			return cb.b
		}
		t.Cleanup(func() { _ = cb.b.Close() })
		return cb
	},
}

// rawPut writes value under key in bucket of the bbolt file at path,
// creating the bucket, without any of this package's checks.
func rawPut(t *testing.T, path string, bucket, key, value []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatalf("raw open %s: %v", path, err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return bk.Put(key, value)
	})
	if err != nil {
		t.Fatalf("raw put: %v", err)
	}
}

// TestBackendContract runs one suite against every backend: both must
// behave the same for the actor.
func TestBackendContract(t *testing.T) {
	for name, open := range contractBackends {
		t.Run(name, func(t *testing.T) {
			t.Run("EmptyLoadsNothing", func(t *testing.T) {
				recs, res, sizes := loadAll(t, open(t).b, 10)
				if len(recs) != 0 || res.Loaded != 0 || res.Skipped != 0 || len(sizes) != 0 {
					t.Fatalf("empty store loaded %d records, result %+v, batches %v", len(recs), res, sizes)
				}
			})
			t.Run("PutRoundTripsEveryField", func(t *testing.T) {
				b := open(t).b
				want := []*peerv1.PeerRecord{testRecord(2), testRecord(1), testRecord(3)}
				mustWrite(t, b, want, nil)
				got, res, _ := loadAll(t, b, 10)
				if res.Loaded != 3 || res.Skipped != 0 {
					t.Fatalf("result %+v, want 3 loaded", res)
				}
				// Loaded in peer id order.
				for i, rec := range got {
					if !proto.Equal(rec, testRecord(i+1)) {
						t.Errorf("record %d = %v, want %v", i, rec, testRecord(i+1))
					}
				}
			})
			t.Run("PutReplaces", func(t *testing.T) {
				b := open(t).b
				first, second := testRecord(1), testRecord(1)
				second.FailedAttempts = 4
				for _, r := range []*peerv1.PeerRecord{first, second} {
					mustWrite(t, b, []*peerv1.PeerRecord{r}, nil)
				}
				wantOnly(t, b, second)
			})
			t.Run("DeleteRemovesAndAbsentIsNoError", func(t *testing.T) {
				b := open(t).b
				mustWrite(t, b, []*peerv1.PeerRecord{testRecord(1), testRecord(2)}, nil)
				mustWrite(t, b, nil, [][]byte{testID(1), testID(99)})
				wantOnly(t, b, testRecord(2))
			})
			t.Run("PutsAndDeletesInOneBatch", func(t *testing.T) {
				b := open(t).b
				mustWrite(t, b, []*peerv1.PeerRecord{testRecord(1)}, nil)
				mustWrite(t, b, []*peerv1.PeerRecord{testRecord(2)}, [][]byte{testID(1)})
				wantOnly(t, b, testRecord(2))
			})
			t.Run("LoadsInBatches", func(t *testing.T) {
				b := open(t).b
				var recs []*peerv1.PeerRecord
				for i := range 10 {
					recs = append(recs, testRecord(i))
				}
				mustWrite(t, b, recs, nil)
				got, res, sizes := loadAll(t, b, 3)
				if !slices.Equal(sizes, []int{3, 3, 3, 1}) || res.Loaded != 10 || len(got) != 10 {
					t.Fatalf("batches %v, result %+v, want [3 3 3 1] and 10 loaded", sizes, res)
				}
			})
			t.Run("InvalidRecordFailsWholeBatch", func(t *testing.T) {
				b := open(t).b
				bad := testRecord(2)
				bad.Agent = "\xff\xfe not utf-8"
				err := b.WriteBatch([]*peerv1.PeerRecord{testRecord(1), bad}, nil)
				if err == nil {
					t.Fatal("a record with invalid UTF-8 was accepted")
				}
				if got, _, _ := loadAll(t, b, 10); len(got) != 0 {
					t.Fatalf("a failed batch left %d records behind; batches must be atomic", len(got))
				}
			})
			t.Run("CorruptRecordsAreSkippedAndCounted", func(t *testing.T) {
				cb := open(t)
				mustWrite(t, cb.b, []*peerv1.PeerRecord{testRecord(1), testRecord(3), testRecord(5)}, nil)
				good, err := appendRecord(nil, testRecord(4), 128, 1<<16)
				if err != nil {
					t.Fatal(err)
				}
				flipped := slices.Clone(good)
				flipped[len(flipped)-3] ^= 0x20 // inside a string: protobuf alone would accept it
				cb.plant(t, testID(0), []byte("garbage"))
				cb.plant(t, testID(2), flipped)
				b := cb.plant(t, testID(6), good) // stored under another peer's id
				got, res, _ := loadAll(t, b, 2)
				if res.Loaded != 3 || res.Skipped != 3 || len(res.Skips) != 3 {
					t.Fatalf("result %+v, want 3 loaded and 3 skipped", res)
				}
				for _, err := range res.Skips {
					if !errors.Is(err, ErrCorruptRecord) {
						t.Errorf("skip error %v does not wrap ErrCorruptRecord", err)
					}
				}
				for i, want := range []int{1, 3, 5} {
					if !proto.Equal(got[i], testRecord(want)) {
						t.Errorf("record %d = %v, want record %d", i, got[i], want)
					}
				}
			})
			t.Run("CallbackErrorStopsLoad", func(t *testing.T) {
				b := open(t).b
				mustWrite(t, b, []*peerv1.PeerRecord{testRecord(1), testRecord(2), testRecord(3)}, nil)
				stop := errors.New("stop here")
				calls := 0
				_, err := b.LoadAll(1, func([]*peerv1.PeerRecord) error {
					calls++
					return stop
				})
				if !errors.Is(err, stop) || calls != 1 {
					t.Fatalf("err %v after %d calls, want the callback's error after 1", err, calls)
				}
			})
			t.Run("ClosedFails", func(t *testing.T) {
				b := open(t).b
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				// The errors say what failed and on which store.
				if err := b.WriteBatch([]*peerv1.PeerRecord{testRecord(1)}, nil); err == nil || !strings.Contains(err.Error(), "peer store") {
					t.Errorf("WriteBatch on a closed backend: %v, want an error naming the peer store", err)
				}
				if _, err := b.LoadAll(1, func([]*peerv1.PeerRecord) error { return nil }); err == nil || !strings.Contains(err.Error(), "peer store") {
					t.Errorf("LoadAll on a closed backend: %v, want an error naming the peer store", err)
				}
			})
		})
	}
}

func mustWrite(t *testing.T, b Backend, puts []*peerv1.PeerRecord, deletes [][]byte) {
	t.Helper()
	if err := b.WriteBatch(puts, deletes); err != nil {
		t.Fatal(err)
	}
}

// wantOnly asserts that b holds exactly want.
func wantOnly(t *testing.T, b Backend, want *peerv1.PeerRecord) {
	t.Helper()
	got, _, _ := loadAll(t, b, 10)
	if len(got) != 1 || !proto.Equal(got[0], want) {
		t.Fatalf("stored %v, want only %v", got, want)
	}
}
