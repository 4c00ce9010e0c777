package peermesh

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// KeyFile is the node key's file name inside the data directory.
const KeyFile = "nodekey"

// ParseKey reads a secp256k1 private key written as 64 hex digits (nwaku's
// --nodekey format; an 0x prefix is accepted).
func ParseKey(s string) (crypto.PrivKey, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return nil, fmt.Errorf("node key: not hex: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("node key: %d bytes, want 32", len(b))
	}
	k, err := crypto.UnmarshalSecp256k1PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	return k, nil
}

// LoadOrCreateKey returns the key kept in dir/nodekey, creating dir and a new
// secp256k1 key on first start. The file is written to a temporary name and
// renamed, so a crash never leaves a truncated key behind.
func LoadOrCreateKey(dir string) (key crypto.PrivKey, created bool, err error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read node key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create data directory: %w", err)
	}
	k, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate node key: %w", err)
	}
	raw, err := k.Raw()
	if err != nil {
		return nil, false, fmt.Errorf("encode node key: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
		return nil, false, fmt.Errorf("write node key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, false, fmt.Errorf("write node key: %w", err)
	}
	return k, true, nil
}
