package storage

import (
	"errors"
	"slices"
	"strings"
	"testing"

	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
)

// step is one input to the core; exactly one field is set.
type step struct {
	put    *peerv1.PeerRecord
	nilPut bool
	del    []byte
	tick   bool
	flush  uint64 // waiter token
	done   *doneStep
}

type doneStep struct {
	seq uint64
	err error
}

func putStep(i int) step     { return step{put: testRecord(i)} }
func delStep(i int) step     { return step{del: testID(i)} }
func flushStep(tok int) step { return step{flush: uint64(tok)} }
func doneOK(seq int) step    { return step{done: &doneStep{seq: uint64(seq)}} }
func doneErr(seq int) step {
	return step{done: &doneStep{seq: uint64(seq), err: errors.New("disk full")}}
}
func tickStep() step { return step{tick: true} }
func (s step) apply(w *WriteBehind) Effects {
	switch {
	case s.nilPut:
		return w.Put(nil)
	case s.put != nil:
		return w.Put(s.put)
	case s.del != nil:
		return w.Delete(s.del)
	case s.tick:
		return w.Tick()
	case s.flush != 0:
		return w.Flush(s.flush)
	default:
		return w.WriteDone(s.done.seq, s.done.err)
	}
}

// wantWrite is the expected Write of the last step, as peer numbers.
type wantWrite struct {
	seq     uint64
	puts    []int
	deletes []int
}

func ids(nums []int) []string {
	out := make([]string, len(nums))
	for i, n := range nums {
		out[i] = string(testID(n))
	}
	return out
}

// TestWriteBehindRules has one row per rule of the write-behind core. Each
// row runs its steps and checks the effects of the last step and the state
// after it.
func TestWriteBehindRules(t *testing.T) {
	type row struct {
		name   string
		cfg    func(*Config)
		steps  []step
		write  *wantWrite // nil: the last step starts no write
		acks   []Ack
		drops  []DropReason
		pendng int
	}
	rows := []row{
		{
			name:   "PutIsHeldUntilTick",
			steps:  []step{putStep(1)},
			pendng: 1,
		},
		{
			name:   "TickWritesPending",
			steps:  []step{putStep(1), tickStep()},
			write:  &wantWrite{seq: 1, puts: []int{1}},
			pendng: 1,
		},
		{
			name:  "TickWithNothingPendingWritesNothing",
			steps: []step{tickStep()},
		},
		{
			name:   "PutsCoalescePerPeer",
			steps:  []step{putStep(2), putStep(1), putStep(2), tickStep()},
			write:  &wantWrite{seq: 1, puts: []int{1, 2}},
			pendng: 2,
		},
		{
			name:   "PutThenDeleteIsDelete",
			steps:  []step{putStep(1), delStep(1), tickStep()},
			write:  &wantWrite{seq: 1, deletes: []int{1}},
			pendng: 1,
		},
		{
			name:   "DeleteThenPutIsPut",
			steps:  []step{delStep(1), putStep(1), tickStep()},
			write:  &wantWrite{seq: 1, puts: []int{1}},
			pendng: 1,
		},
		{
			name:   "ThresholdStartsWrite",
			cfg:    func(c *Config) { c.FlushThreshold = 2 },
			steps:  []step{putStep(1), putStep(1), putStep(2)},
			write:  &wantWrite{seq: 1, puts: []int{1, 2}},
			pendng: 2,
		},
		{
			name:   "OneWriteInFlight",
			steps:  []step{putStep(1), tickStep(), putStep(2), tickStep()},
			pendng: 2,
		},
		{
			name:  "FlushWithNothingPendingIsAnsweredAtOnce",
			steps: []step{flushStep(7)},
			acks:  []Ack{{Waiter: 7}},
		},
		{
			name:   "FlushStartsWrite",
			steps:  []step{putStep(1), flushStep(7)},
			write:  &wantWrite{seq: 1, puts: []int{1}},
			pendng: 1,
		},
		{
			name:  "FlushIsAnsweredWhenItsWriteIsDone",
			steps: []step{putStep(1), putStep(2), flushStep(7), doneOK(1)},
			acks:  []Ack{{Waiter: 7, Written: 2}},
		},
		{
			name:   "FlushDuringWriteWaitsForTheNextWrite",
			steps:  []step{putStep(1), tickStep(), putStep(2), flushStep(7), doneOK(1)},
			write:  &wantWrite{seq: 2, puts: []int{2}},
			pendng: 1,
		},
		{
			name:  "FlushWithOnlyAWriteInFlightWaitsForIt",
			steps: []step{putStep(1), tickStep(), flushStep(7), doneOK(1)},
			acks:  []Ack{{Waiter: 7, Written: 1}},
		},
		{
			name:   "FailedWriteAnswersWaitersWithTheError",
			steps:  []step{putStep(1), flushStep(7), doneErr(1)},
			acks:   []Ack{{Waiter: 7, Err: "write failed, 1 changes kept pending for retry: disk full"}},
			pendng: 1,
		},
		{
			name:   "FailedWriteAlsoAnswersWaitersOfTheNextBatch",
			steps:  []step{putStep(1), tickStep(), putStep(2), flushStep(7), doneErr(1)},
			acks:   []Ack{{Waiter: 7, Err: "write failed, 2 changes kept pending for retry: disk full"}},
			pendng: 2,
		},
		{
			name:   "FailedWriteKeepsNewerChanges",
			steps:  []step{putStep(1), putStep(2), tickStep(), delStep(1), doneErr(1), tickStep()},
			write:  &wantWrite{seq: 2, puts: []int{2}, deletes: []int{1}},
			pendng: 2,
		},
		{
			name:   "FailingPausesThresholdWrites",
			cfg:    func(c *Config) { c.FlushThreshold = 1 },
			steps:  []step{putStep(1), doneErr(1), putStep(2)},
			pendng: 2,
		},
		{
			name:   "TickRetriesAfterFailure",
			cfg:    func(c *Config) { c.FlushThreshold = 1 },
			steps:  []step{putStep(1), doneErr(1), putStep(2), tickStep()},
			write:  &wantWrite{seq: 2, puts: []int{1, 2}},
			pendng: 2,
		},
		{
			name:   "SuccessResumesThresholdWrites",
			cfg:    func(c *Config) { c.FlushThreshold = 1 },
			steps:  []step{putStep(1), doneErr(1), tickStep(), doneOK(2), putStep(2)},
			write:  &wantWrite{seq: 3, puts: []int{2}},
			pendng: 1,
		},
		{
			name:   "StaleWriteDoneIsIgnored",
			steps:  []step{putStep(1), tickStep(), doneOK(9)},
			pendng: 1,
		},
		{
			name:   "PendingFullDropsNewPeer",
			cfg:    func(c *Config) { c.FlushThreshold, c.MaxPending = 2, 2 },
			steps:  []step{putStep(1), putStep(2), putStep(3)},
			drops:  []DropReason{DropPendingFull},
			pendng: 2,
		},
		{
			name:   "PendingFullStillReplacesPendingPeer",
			cfg:    func(c *Config) { c.FlushThreshold, c.MaxPending = 2, 3 },
			steps:  []step{putStep(1), putStep(2), putStep(3), delStep(3)},
			pendng: 3,
		},
		{
			name:   "PendingFullCountsInFlight",
			cfg:    func(c *Config) { c.FlushThreshold, c.MaxPending = 2, 2 },
			steps:  []step{putStep(1), putStep(2), putStep(1)},
			drops:  []DropReason{DropPendingFull},
			pendng: 2,
		},
		{
			name:   "FlushReportsEarlierDrops",
			cfg:    func(c *Config) { c.FlushThreshold, c.MaxPending = 2, 2 },
			steps:  []step{putStep(1), putStep(2), putStep(3), flushStep(7), doneOK(1)},
			acks:   []Ack{{Waiter: 7, Written: 2, Err: "1 changes were dropped before this flush (see peermesh_storage_errors_total)"}},
			pendng: 0,
		},
		{
			name:  "DropsAreReportedToOneFlushOnly",
			steps: []step{{put: &peerv1.PeerRecord{}}, flushStep(7), flushStep(8)},
			acks:  []Ack{{Waiter: 8}},
		},
		{
			name:  "PutWithoutPeerIDIsDropped",
			steps: []step{{put: &peerv1.PeerRecord{Agent: "x"}}},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:  "NilPutIsDropped",
			steps: []step{{nilPut: true}},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:  "OversizedPeerIDIsDropped",
			steps: []step{{put: &peerv1.PeerRecord{PeerId: make([]byte, 129)}}},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:  "OversizedRecordIsDropped",
			cfg:   func(c *Config) { c.MaxRecordBytes = 64 },
			steps: []step{putStep(1)},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:  "InvalidUTF8IsDropped",
			steps: []step{{put: &peerv1.PeerRecord{PeerId: []byte("p"), Agent: "\xc0"}}},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:  "DeleteWithoutPeerIDIsDropped",
			steps: []step{{del: []byte{}}},
			drops: []DropReason{DropInvalidRecord},
		},
		{
			name:   "FlushWaitersAreBounded",
			cfg:    func(c *Config) { c.MaxFlushWaiters = 1 },
			steps:  []step{putStep(1), flushStep(7), flushStep(8)},
			acks:   []Ack{{Waiter: 8, Err: "too many flush requests waiting; retry later"}},
			drops:  []DropReason{DropFlushWaitersFull},
			pendng: 1,
		},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if r.cfg != nil {
				r.cfg(&cfg)
			}
			w := NewWriteBehind(cfg)
			var eff Effects
			for _, s := range r.steps {
				eff = s.apply(w)
			}
			checkWrite(t, eff.Write, r.write)
			if !slices.Equal(eff.Acks, r.acks) {
				t.Errorf("acks %+v, want %+v", eff.Acks, r.acks)
			}
			var drops []DropReason
			for _, d := range eff.Drops {
				drops = append(drops, d.Reason)
			}
			if !slices.Equal(drops, r.drops) {
				t.Errorf("drops %v, want %v", eff.Drops, r.drops)
			}
			if w.Pending() != r.pendng {
				t.Errorf("pending %d, want %d", w.Pending(), r.pendng)
			}
		})
	}
}

func checkWrite(t *testing.T, got *Write, want *wantWrite) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("unexpected write %+v", got)
		}
		return
	}
	if got == nil {
		t.Fatalf("no write, want seq %d", want.seq)
	}
	var puts, dels []string
	for _, r := range got.Puts {
		puts = append(puts, string(r.GetPeerId()))
	}
	for _, id := range got.Deletes {
		dels = append(dels, string(id))
	}
	if got.Seq != want.seq || !slices.Equal(puts, ids(want.puts)) || !slices.Equal(dels, ids(want.deletes)) {
		t.Errorf("write seq %d puts %q deletes %q, want seq %d puts %q deletes %q",
			got.Seq, puts, dels, want.seq, ids(want.puts), ids(want.deletes))
	}
}

func TestWriteBehindOverlay(t *testing.T) {
	w := NewWriteBehind(DefaultConfig())
	w.Put(testRecord(1))
	w.Put(testRecord(2))
	w.Tick() // 1 and 2 in flight
	newer := testRecord(2)
	newer.FailedAttempts = 4
	w.Put(newer)
	w.Delete(testID(3))
	for _, n := range []int{1, 2, 3} {
		if !w.Shadowed(testID(n)) {
			t.Errorf("peer %d not shadowed", n)
		}
	}
	if w.Shadowed(testID(4)) {
		t.Error("peer 4 shadowed with no change")
	}
	got := w.Unwritten()
	if len(got) != 2 || got[0] != w.flight.changes[string(testID(1))].rec || got[1] != newer {
		t.Fatalf("Unwritten %v, want peer 1 (in flight) and the newer peer 2", got)
	}
}

func TestWriteBehindDrain(t *testing.T) {
	w := NewWriteBehind(DefaultConfig())
	w.Put(testRecord(1))
	w.Tick()
	if w.Drain() != nil {
		t.Fatal("Drain started a second write while one is in flight")
	}
	w.Put(testRecord(2))
	w.WriteDone(1, nil)
	d := w.Drain()
	if d == nil || d.Size() != 1 || !w.InFlight() {
		t.Fatalf("Drain = %+v, want the write of peer 2", d)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	cases := map[string]func(*Config){
		"Backend":         func(c *Config) { c.Backend = "sqlite" },
		"Path":            func(c *Config) { c.Path = "" },
		"OpenTimeout":     func(c *Config) { c.OpenTimeout = 0 },
		"MaxFileBytes":    func(c *Config) { c.MaxFileBytes = -1 },
		"TickName":        func(c *Config) { c.TickName = "" },
		"FlushInterval":   func(c *Config) { c.FlushInterval = 0 },
		"FlushThreshold":  func(c *Config) { c.FlushThreshold = 0 },
		"MaxPending":      func(c *Config) { c.MaxPending = c.FlushThreshold - 1 },
		"MaxFlushWaiters": func(c *Config) { c.MaxFlushWaiters = 0 },
		"LoadBatchSize":   func(c *Config) { c.LoadBatchSize = maxLoadBatchSize + 1 },
		"MaxRecordBytes":  func(c *Config) { c.MaxRecordBytes = 10 },
		"MaxPeerIDBytes":  func(c *Config) { c.MaxPeerIDBytes = 0 },
	}
	for field, mutate := range cases {
		cfg := DefaultConfig()
		mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", field, err, field)
		}
	}
}
