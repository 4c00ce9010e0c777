package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// FuzzOpenBolt hands arbitrary file contents to OpenBolt and, when the file
// is accepted, to LoadAll: a damaged file must end in an error (ErrCorrupt
// or another named error), never a panic or a hang.
func FuzzOpenBolt(f *testing.F) {
	dir := f.TempDir()
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(dir, "seed.db")
	b, err := OpenBolt(cfg)
	if err != nil {
		f.Fatal(err)
	}
	if err := b.WriteBatch([]*peerv1.PeerRecord{testRecord(1), testRecord(2), testRecord(3)}, nil); err != nil {
		f.Fatal(err)
	}
	b.Close()
	seed, err := os.ReadFile(cfg.Path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:os.Getpagesize()*2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := DefaultConfig()
		cfg.Path = filepath.Join(t.TempDir(), "peers.db")
		if err := os.WriteFile(cfg.Path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := OpenBolt(cfg)
		if err != nil {
			return
		}
		defer b.Close()
		_, err = b.LoadAll(64, func([]*peerv1.PeerRecord) error { return nil })
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("LoadAll of an accepted file: %v (want nil or ErrCorrupt)", err)
		}
	})
}
