package storage

import (
	"slices"
	"sync"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// fakeBackend is a Memory backend that records every WriteBatch, can hold a
// write until the test releases it, and can fail writes.
type fakeBackend struct {
	*Memory
	mu     sync.Mutex
	writes []fakeWrite
	gate   chan struct{} // when set, each WriteBatch waits for one receive
	fail   error
}

type fakeWrite struct {
	puts    []string
	deletes []string
}

func newFakeBackend() *fakeBackend { return &fakeBackend{Memory: NewMemory(DefaultConfig())} }

func (f *fakeBackend) WriteBatch(puts []*peerv1.PeerRecord, deletes [][]byte) error {
	f.mu.Lock()
	gate, fail := f.gate, f.fail
	w := fakeWrite{}
	for _, r := range puts {
		w.puts = append(w.puts, string(r.GetPeerId()))
	}
	for _, id := range deletes {
		w.deletes = append(w.deletes, string(id))
	}
	f.writes = append(f.writes, w)
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	return f.Memory.WriteBatch(puts, deletes)
}

// hold makes later writes wait for release.
func (f *fakeBackend) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

// release lets one held write complete.
func (f *fakeBackend) release() {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	gate <- struct{}{}
}

func (f *fakeBackend) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeBackend) writeLog() []fakeWrite {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.writes)
}

// panickyBackend panics in its first LoadAll, to make the actor fail and be
// restarted by its supervisor.
type panickyBackend struct {
	*fakeBackend
	mu       sync.Mutex
	panicked bool
}

func (p *panickyBackend) LoadAll(batchSize int, fn func([]*peerv1.PeerRecord) error) (LoadResult, error) {
	p.mu.Lock()
	first := !p.panicked
	p.panicked = true
	p.mu.Unlock()
	if first {
		panic("simulated bug while loading")
	}
	return p.fakeBackend.LoadAll(batchSize, fn)
}
