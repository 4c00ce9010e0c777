package storage

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// This file is reliability-anchors F11 (power loss): a Backend double over a
// simulated disk that tells written from synced bytes, a power loss that
// keeps the synced bytes and at most a seeded prefix of the rest (a torn
// tail, as a page cache written back part-way), and a test that drives the
// real storage actor through many seeded lives, each cut by a power loss at
// a random disk operation, and checks after every reopen that everything
// the actor acknowledged (Flushed without error) survived and that the
// store loads whole. bbolt itself is covered by the kill -9 tests in
// crash_test.go (F10), which cut a real process inside a write on a real
// file; a power loss below the OS needs a file system that drops unsynced
// pages, which this machine cannot provide, so bbolt's own fsync ordering
// is trusted (as bbolt documents) and the actor's use of the seam is what
// is tested here.

// powerLossSeeds is how many seeds TestPowerLossKeepsEveryAcknowledgedRecord
// runs (CI: 60).
var powerLossSeeds = flag.Int("powerloss.seeds", 60, "seeds of the power-loss test (6 lives each)")

// errPowerLost is what every operation of a backend returns once its power
// failed: the process is gone, it acknowledges nothing more.
var errPowerLost = errors.New("power lost")

// powerDisk is a simulated block device: writes land in a volatile cache,
// sync makes them durable, and a power loss keeps the durable bytes plus a
// seeded prefix of the cache.
type powerDisk struct {
	durable []byte
	cache   []byte
}

func (d *powerDisk) write(p []byte) { d.cache = append(d.cache, p...) }

func (d *powerDisk) sync() {
	d.durable = append(d.durable, d.cache...)
	d.cache = nil
}

// powerLoss drops the cache except for a prefix of seeded length (possibly
// cutting a frame in two) and returns how many unsynced bytes survived.
func (d *powerDisk) powerLoss(rng *rand.Rand) int {
	kept := 0
	if len(d.cache) > 0 {
		kept = rng.IntN(len(d.cache) + 1)
	}
	d.durable = append(d.durable, d.cache[:kept]...)
	d.cache = nil
	return kept
}

// powerBackend is a journaling Backend on a powerDisk: each WriteBatch is
// one frame (length, CRC-32C, the batch's puts and deletes) written then
// synced; opening replays the journal up to the first short or damaged
// frame and cuts the rest, so a batch survives whole or not at all. Its
// records live in a Memory (the same envelopes as Bolt), which LoadAll reads.
// failAt, when > 0, is the disk operation (1-based: each write and each
// sync counts) at which the power fails: a write there is torn (a seeded
// part of its frame is written), and from then on every call returns
// errPowerLost.
type powerBackend struct {
	mu      sync.Mutex
	disk    *powerDisk
	mem     *Memory
	cfg     Config
	rng     *rand.Rand
	ops     int
	failAt  int
	dead    bool
	cutTail int // bytes of a damaged tail the last open cut
}

// openPower opens the journal on disk (recovering from a torn tail).
func openPower(disk *powerDisk, cfg Config, rng *rand.Rand, failAt int) (*powerBackend, error) {
	b := &powerBackend{disk: disk, mem: NewMemory(cfg), cfg: cfg, rng: rng, failAt: failAt}
	good := 0
	for rest := disk.durable; len(rest) >= 8; {
		n := int(binary.BigEndian.Uint32(rest))
		if n > len(rest)-8 || crc32.Checksum(rest[8:8+n], castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			break // a torn or damaged tail: everything after it was never acknowledged
		}
		if err := b.apply(rest[8 : 8+n]); err != nil {
			return nil, fmt.Errorf("journal frame at %d: %w", good, err)
		}
		good += 8 + n
		rest = rest[8+n:]
	}
	b.cutTail = len(disk.durable) - good
	disk.durable = disk.durable[:good]
	return b, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame payload ops: kind, key, and for a put the stored envelope.
const (
	opPut    = 1
	opDelete = 2
)

func (b *powerBackend) apply(payload []byte) error {
	for len(payload) > 0 {
		kind := payload[0]
		payload = payload[1:]
		key, rest, err := readBytes(payload)
		if err != nil {
			return err
		}
		payload = rest
		switch kind {
		case opPut:
			var value []byte
			if value, payload, err = readBytes(payload); err != nil {
				return err
			}
			b.mem.PutRaw(key, value)
		case opDelete:
			if err := b.mem.WriteBatch(nil, [][]byte{key}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown op %d", kind)
		}
	}
	return nil
}

func readBytes(p []byte) (v, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, errors.New("bad length")
	}
	return p[k : k+int(n)], p[k+int(n):], nil
}

// frame encodes a batch as one journal frame.
func frame(ops [][2][]byte, kinds []byte) []byte {
	var payload []byte
	for i, op := range ops {
		payload = append(payload, kinds[i])
		payload = binary.AppendUvarint(payload, uint64(len(op[0])))
		payload = append(payload, op[0]...)
		if kinds[i] == opPut {
			payload = binary.AppendUvarint(payload, uint64(len(op[1])))
			payload = append(payload, op[1]...)
		}
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(payload, castagnoli))
	return append(out, payload...)
}

// step counts one disk operation and reports whether the power fails at it.
func (b *powerBackend) step() bool {
	b.ops++
	if b.failAt > 0 && b.ops == b.failAt {
		b.dead = true
	}
	return b.dead
}

// WriteBatch implements Backend: write the frame, sync, then apply it.
func (b *powerBackend) WriteBatch(puts []*peerv1.PeerRecord, deletes [][]byte) error {
	var ops [][2][]byte
	var kinds []byte
	for _, rec := range puts {
		v, err := appendRecord(nil, rec, b.cfg.MaxPeerIDBytes, b.cfg.MaxRecordBytes)
		if err != nil {
			return fmt.Errorf("write %d puts and %d deletes to the journal: %w", len(puts), len(deletes), err)
		}
		ops, kinds = append(ops, [2][]byte{rec.GetPeerId(), v}), append(kinds, opPut)
	}
	for _, id := range deletes {
		ops, kinds = append(ops, [2][]byte{id, nil}), append(kinds, opDelete)
	}
	f := frame(ops, kinds)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dead {
		return errPowerLost
	}
	if b.step() { // torn write: part of the frame reaches the cache
		b.disk.write(f[:b.rng.IntN(len(f))])
		return errPowerLost
	}
	b.disk.write(f)
	if b.step() { // written, never synced
		return errPowerLost
	}
	b.disk.sync()
	if err := b.apply(f[8:]); err != nil {
		return err
	}
	return nil
}

func (b *powerBackend) isDead() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dead
}

// LoadAll implements Backend.
func (b *powerBackend) LoadAll(batchSize int, fn func([]*peerv1.PeerRecord) error) (LoadResult, error) {
	b.mu.Lock()
	dead := b.dead
	b.mu.Unlock()
	if dead {
		return LoadResult{}, errPowerLost
	}
	return b.mem.LoadAll(batchSize, fn)
}

// Close implements Backend.
func (b *powerBackend) Close() error { return b.mem.Close() }

// powerRecord is peer p's record at version v (Agent carries the version).
func powerRecord(p, v int) *peerv1.PeerRecord {
	r := testRecord(p)
	r.Agent = fmt.Sprintf("v%d", v)
	return r
}

// peerHistory is what happened to one peer: its operations in order (a
// version ≥ 1 is a put of that version, 0 a delete) and how many of them
// were acknowledged.
type peerHistory struct {
	ops   []int
	acked int
}

// allowed reports whether state (a version, 0 for absent) is one the peer
// can be in after a power loss: the state after an acknowledged operation
// no older than the last acknowledged one, or after any later one.
func (h *peerHistory) allowed(state int) bool {
	if h.acked == 0 && state == 0 {
		return true // nothing acknowledged; absent is fine
	}
	return slices.Contains(h.ops[max(h.acked-1, 0):], state)
}

// TestPowerLossKeepsEveryAcknowledgedRecord drives the storage actor over a
// powerBackend through 60 seeds (-powerloss.seeds) of 6 lives each. In a life the store is
// reopened from what the disk kept, loaded through the actor (it must load
// whole: no skipped record, every peer in a state its history allows —
// every acknowledged put or delete kept, nothing never written), then puts
// and deletes of 40 peers at random, with Flushes and Ticks between them,
// until the power fails at a seeded disk operation (or the life ends and the
// power is cut anyway). A Flushed without error acknowledges every change
// sent before the Flush.
func TestPowerLossKeepsEveryAcknowledgedRecord(t *testing.T) {
	const lives, peers, steps = 6, 40, 60
	seeds := *powerLossSeeds
	var crashes, torn, cutBytes, acked, checked int
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 0xf11))
		disk := &powerDisk{}
		hist := map[int]*peerHistory{}
		version := 0
		for life := range lives {
			failAt := 0
			if rng.IntN(6) > 0 { // one life in six ends with every write done
				failAt = 1 + rng.IntN(24)
			}
			// The backend's own generator: it runs on the actor's writer
			// goroutine.
			b, err := openPower(disk, DefaultConfig(), rand.New(rand.NewPCG(seed, uint64(life))), failAt)
			if err != nil {
				t.Fatalf("seed %d life %d: reopen: %v", seed, life, err)
			}
			if b.cutTail > 0 {
				torn++
				cutBytes += b.cutTail
			}
			var life0 powerLife
			bubble.Test(t, func(t *testing.T) {
				life0 = runPowerLife(t, b, rng, hist, &version, peers, steps)
			})
			if t.Failed() {
				t.Fatalf("seed %d life %d failed", seed, life)
			}
			checked += life0.checked
			acked += life0.acked
			if b.isDead() {
				crashes++
			}
			disk.powerLoss(rng)
		}
	}
	t.Logf("power loss: %d seeds × %d lives, %d power failures inside the actor's writes, %d reopens cut a torn tail "+
		"(%d bytes in all), %d changes acknowledged, %d peer states checked after reopens: none lost",
		seeds, lives, crashes, torn, cutBytes, acked, checked)
}

type powerLife struct{ checked, acked int }

// runPowerLife is one life: load and check, then random changes until the
// power fails or the steps run out; the actor is stopped at the end (its
// stop flush fails once the power is gone).
func runPowerLife(t *testing.T, b *powerBackend, rng *rand.Rand, hist map[int]*peerHistory, version *int, peers, steps int) powerLife {
	var res powerLife
	sys, _ := quietSystem() // thousands of lives: no log
	t.Cleanup(sys.Shutdown)
	p := actortest.NewProbe(t, sys)
	pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Backend: b}))
	defer func() { _ = sys.Root.StopFuture(pid).Wait() }()

	// What the reopened store holds must be a state each peer's history
	// allows.
	p.Request(pid, &storagev1.LoadAll{BatchSize: 16})
	state := map[int]int{}
	for done := false; !done; {
		m, ok := p.Next(time.Minute)
		if !ok {
			t.Fatal("load after reopen: no answer")
		}
		switch msg := m.Message.(type) {
		case *storagev1.LoadBatch:
			for _, r := range msg.GetRecords() {
				var pi, v int
				if _, err := fmt.Sscanf(string(r.GetPeerId()), "peer-%d", &pi); err != nil {
					t.Fatalf("loaded a record of unknown peer %q", r.GetPeerId())
				}
				if _, err := fmt.Sscanf(r.GetAgent(), "v%d", &v); err != nil {
					t.Fatalf("peer %d loaded with agent %q", pi, r.GetAgent())
				}
				state[pi] = v
			}
		case *storagev1.LoadCompleted:
			if msg.GetError() != "" || msg.GetSkipped() != 0 {
				t.Fatalf("load after reopen: %v", msg)
			}
			done = true
		default:
			t.Fatalf("during load: %T %v", msg, msg)
		}
	}
	for pi, h := range hist {
		if !h.allowed(state[pi]) {
			t.Fatalf("peer %d is %d after the power loss; its operations %v, the first %d acknowledged", pi, state[pi], h.ops, h.acked)
		}
		res.checked++
	}
	for pi := range state {
		if hist[pi] == nil {
			t.Fatalf("peer %d loaded but never written", pi)
		}
	}
	// Changes since the last acknowledged Flush: peer → ops count at send.
	sent := map[int]int{}
	for range steps {
		switch r := rng.IntN(10); {
		case r < 6:
			pi := rng.IntN(peers)
			*version++
			p.Send(pid, &storagev1.Put{Record: powerRecord(pi, *version)})
			h := hist[pi]
			if h == nil {
				h = &peerHistory{}
				hist[pi] = h
			}
			h.ops = append(h.ops, *version)
			sent[pi] = len(h.ops)
		case r < 7:
			pi := rng.IntN(peers)
			if h := hist[pi]; h != nil {
				p.Send(pid, &storagev1.Delete{PeerId: testID(pi)})
				h.ops = append(h.ops, 0)
				sent[pi] = len(h.ops)
			}
		case r < 8:
			p.Send(pid, &heartbeatv1.Tick{Name: DefaultConfig().TickName})
		default:
			p.Request(pid, &storagev1.Flush{})
			f := actortest.Fish(p, func(*storagev1.Flushed) bool { return true })
			if f.GetError() != "" {
				if !b.isDead() {
					t.Fatalf("Flush failed with the power on: %s", f.GetError())
				}
				return res // the process is gone; nothing more is acknowledged
			}
			if b.isDead() {
				t.Fatalf("Flush acknowledged after the power failed (%d changes)", len(sent))
			}
			for pi, n := range sent {
				hist[pi].acked = max(hist[pi].acked, n)
				res.acked++
			}
			clear(sent)
		}
	}
	return res
}
