package storage

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// Memory is an in-process Backend for tests and for nodes that persist
// nothing. It stores the same encoded envelopes as Bolt, so a record read
// back never aliases one that was written and the decoder is exercised the
// same way. It is safe for concurrent use.
type Memory struct {
	mu       sync.Mutex
	values   map[string][]byte
	closed   bool
	maxID    int
	maxBytes int
}

// NewMemory returns an empty in-memory backend with cfg's record limits.
func NewMemory(cfg Config) *Memory {
	return &Memory{values: map[string][]byte{}, maxID: cfg.MaxPeerIDBytes, maxBytes: cfg.MaxRecordBytes}
}

var errClosed = errors.New("peer store is closed")

// WriteBatch implements Backend; the batch is applied atomically under the
// lock, and an encoding error leaves the store unchanged.
func (m *Memory) WriteBatch(puts []*peerv1.PeerRecord, deletes [][]byte) error {
	encoded := make([][]byte, len(puts))
	for i, rec := range puts {
		v, err := appendRecord(nil, rec, m.maxID, m.maxBytes)
		if err != nil {
			return fmt.Errorf("write %d puts and %d deletes to the memory peer store: %w", len(puts), len(deletes), err)
		}
		encoded[i] = v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("write %d puts and %d deletes to the memory peer store: %w", len(puts), len(deletes), errClosed)
	}
	for i, rec := range puts {
		m.values[string(rec.GetPeerId())] = encoded[i]
	}
	for _, id := range deletes {
		delete(m.values, string(id))
	}
	return nil
}

// LoadAll implements Backend. It snapshots the keys under the lock and
// decodes outside it, so a slow fn does not block writers.
func (m *Memory) LoadAll(batchSize int, fn func([]*peerv1.PeerRecord) error) (LoadResult, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return LoadResult{}, fmt.Errorf("load the memory peer store: %w", errClosed)
	}
	keys := make([]string, 0, len(m.values))
	vals := make(map[string][]byte, len(m.values))
	for k, v := range m.values {
		keys = append(keys, k)
		vals[k] = v
	}
	m.mu.Unlock()
	slices.Sort(keys)
	l := newLoader(batchSize, m.maxBytes, fn)
	for _, k := range keys {
		if err := l.add([]byte(k), vals[k]); err != nil {
			return l.res, fmt.Errorf("load the memory peer store: %w", err)
		}
	}
	res, err := l.finish()
	if err != nil {
		return res, fmt.Errorf("load the memory peer store: %w", err)
	}
	return res, nil
}

// PutRaw stores value under key as is, bypassing the encoder: tests use it to
// plant corrupt values.
func (m *Memory) PutRaw(key, value []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[string(key)] = slices.Clone(value)
}

// Len returns the number of stored values.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.values)
}

// Close implements Backend.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
