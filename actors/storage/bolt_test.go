package storage

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

func TestBoltPersistsAcrossReopen(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpenBolt(t, cfg)
	if err := b.WriteBatch([]*peerv1.PeerRecord{testRecord(1), testRecord(2)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = mustOpenBolt(t, cfg)
	defer b.Close()
	got, _, _ := loadAll(t, b, 10)
	if len(got) != 2 || !proto.Equal(got[1], testRecord(2)) {
		t.Fatalf("after reopen got %v", got)
	}
}

// TestBoltRefusesBadFiles: every file the node cannot trust is an error that
// names the path and says why, never an empty store.
func TestBoltRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name string
		// prepare makes the file at path; it starts absent.
		prepare func(t *testing.T, cfg Config)
		want    error
		detail  string
	}{
		{
			name: "NewerSchemaVersion",
			prepare: func(t *testing.T, cfg Config) {
				mustOpenBolt(t, cfg).Close()
				rawPut(t, cfg.Path, metaBucket, schemaKey, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
			},
			want:   ErrNewerSchema,
			detail: "file version 2",
		},
		{
			name: "SchemaVersionZero",
			prepare: func(t *testing.T, cfg Config) {
				mustOpenBolt(t, cfg).Close()
				rawPut(t, cfg.Path, metaBucket, schemaKey, binary.BigEndian.AppendUint32(nil, 0))
			},
			want: ErrCorrupt,
		},
		{
			name: "MalformedSchemaVersion",
			prepare: func(t *testing.T, cfg Config) {
				mustOpenBolt(t, cfg).Close()
				rawPut(t, cfg.Path, metaBucket, schemaKey, []byte("v1"))
			},
			want:   ErrCorrupt,
			detail: "schema version is missing or malformed",
		},
		{
			name: "GarbageFile",
			prepare: func(t *testing.T, cfg Config) {
				writeFile(t, cfg.Path, []byte(strings.Repeat("not a bbolt file ", 1024)))
			},
			want: ErrCorrupt,
		},
		{
			name: "TruncatedFile",
			prepare: func(t *testing.T, cfg Config) {
				b := mustOpenBolt(t, cfg)
				var recs []*peerv1.PeerRecord
				for i := range 2000 {
					recs = append(recs, testRecord(i))
				}
				if err := b.WriteBatch(recs, nil); err != nil {
					t.Fatal(err)
				}
				b.Close()
				data, err := os.ReadFile(cfg.Path)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, cfg.Path, data[:len(data)/2])
			},
			want: ErrCorrupt,
		},
		{
			name: "BothMetaPagesDamaged",
			prepare: func(t *testing.T, cfg Config) {
				mustOpenBolt(t, cfg).Close()
				data, err := os.ReadFile(cfg.Path)
				if err != nil {
					t.Fatal(err)
				}
				page := os.Getpagesize()
				for _, off := range []int{16 + 32, page + 16 + 32} { // inside each meta page, past the magic
					data[off] ^= 0xff
				}
				writeFile(t, cfg.Path, data)
			},
			want: ErrCorrupt,
		},
		{
			name: "ForeignBoltFile",
			prepare: func(t *testing.T, cfg Config) {
				rawPut(t, cfg.Path, []byte("someone-else"), []byte("k"), []byte("v"))
			},
			want: ErrForeign,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.prepare(t, cfg)
			b, err := Open(cfg)
			if err == nil {
				b.Close()
				t.Fatal("the file was accepted")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %q does not wrap %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), cfg.Path) {
				t.Errorf("error %q does not name the path %s", err, cfg.Path)
			}
			if tc.detail != "" && !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not say %q", err, tc.detail)
			}
		})
	}
}

func TestBoltSecondOpenFailsLocked(t *testing.T) {
	cfg := testConfig(t)
	cfg.OpenTimeout = 50 * time.Millisecond
	b := mustOpenBolt(t, cfg)
	defer b.Close()
	_, err := OpenBolt(cfg)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), cfg.Path) {
		t.Fatalf("second open: %v, want ErrLocked naming %s", err, cfg.Path)
	}
}

func TestBoltMaxFileBytesFailsWritesAndKeepsData(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxFileBytes = 256 << 10
	b := mustOpenBolt(t, cfg)
	defer b.Close()
	if err := b.WriteBatch([]*peerv1.PeerRecord{testRecord(0)}, nil); err != nil {
		t.Fatal(err)
	}
	var big []*peerv1.PeerRecord
	for i := 1; i < 5000; i++ {
		big = append(big, testRecord(i))
	}
	if err := b.WriteBatch(big, nil); err == nil {
		t.Fatal("a batch beyond MaxFileBytes succeeded")
	}
	got, _, _ := loadAll(t, b, 100)
	if len(got) != 1 {
		t.Fatalf("after the failed batch %d records, want the 1 written before", len(got))
	}
}

func TestOpenValidatesConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = ""
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "Path") {
		t.Fatalf("Open with no path: %v, want an error naming Path", err)
	}
	cfg.Backend = BackendMemory
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*Memory); !ok {
		t.Fatalf("memory backend is %T", b)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBoltDamagedPagesNeverCrash damages every page of a real file in turn
// (16 random bytes, seeded) and opens and loads it: each outcome must be a
// refusal naming the path or a load that returns, with bad records skipped;
// never a panic, a fault or a hang.
func TestBoltDamagedPagesNeverCrash(t *testing.T) {
	cfg := testConfig(t)
	b := mustOpenBolt(t, cfg)
	var recs []*peerv1.PeerRecord
	for i := range 300 {
		recs = append(recs, testRecord(i))
	}
	if err := b.WriteBatch(recs, nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	pristine, err := os.ReadFile(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	rng := rand.New(rand.NewPCG(1, 2))
	refused, loaded := 0, 0
	for _, check := range []bool{true, false} {
		cfg.CheckOnOpen = check // without the walk, LoadAll meets the damage
		damagePages(t, cfg, pristine, page, rng, len(recs), &refused, &loaded)
	}
	t.Logf("%d damaged files refused, %d opened and loaded", refused, loaded)
	if refused == 0 {
		t.Fatal("no damaged file was refused; the check on open is not working")
	}
}

func damagePages(t *testing.T, cfg Config, pristine []byte, page int, rng *rand.Rand, nrecs int, refused, loaded *int) {
	t.Helper()
	perPage := 2
	if testing.Short() {
		perPage = 1
	}
	for p := 0; p*page < len(pristine); p++ {
		for range perPage {
			data := slices.Clone(pristine)
			off := p*page + rng.IntN(page-16)
			for i := range 16 {
				data[off+i] = byte(rng.Uint32())
			}
			writeFile(t, cfg.Path, data)
			b, err := OpenBolt(cfg)
			if err != nil {
				if !strings.Contains(err.Error(), cfg.Path) {
					t.Fatalf("page %d: error %q does not name the path", p, err)
				}
				*refused++
				continue
			}
			res, err := b.LoadAll(64, func([]*peerv1.PeerRecord) error { return nil })
			b.Close()
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("page %d: load error %v does not wrap ErrCorrupt", p, err)
			}
			if res.Loaded+res.Skipped > nrecs+1 {
				t.Fatalf("page %d: %d loaded + %d skipped from %d records", p, res.Loaded, res.Skipped, nrecs)
			}
			*loaded++
		}
	}
}
