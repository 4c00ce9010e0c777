package heartbeat

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one call on the schedule at t0+at, with what it must return.
type step struct {
	at   time.Duration
	kind string // reg, unreg, rm, due, wake, count

	target, name    string
	interval, delay time.Duration

	wantErr   error
	wantReg   RegisterResult
	wantUnreg UnregisterResult
	wantN     int // rm: removed; count: registrations
	wantTgts  int // count: targets
	wantFires []Fire
	wantWake  time.Duration
	wantOK    bool
}

func reg(at time.Duration, target, name string, interval, delay time.Duration) step {
	return step{at: at, kind: "reg", target: target, name: name, interval: interval, delay: delay}
}

func (s step) ok(r RegisterResult) step { s.wantReg = r; return s }
func (s step) fails(err error) step     { s.wantErr = err; return s }

func unreg(target, name string, want UnregisterResult) step {
	return step{kind: "unreg", target: target, name: name, wantUnreg: want}
}

func rm(target string, removed int) step { return step{kind: "rm", target: target, wantN: removed} }

func due(at time.Duration, fires ...Fire) step { return step{at: at, kind: "due", wantFires: fires} }

func wake(at time.Duration, ok bool) step { return step{kind: "wake", wantWake: at, wantOK: ok} }

func count(regs, targets int) step { return step{kind: "count", wantN: regs, wantTgts: targets} }

func fire(target, name string, seq, missed uint64, dueAt, lag time.Duration) Fire {
	return Fire{Target: target, Name: name, Seq: seq, Missed: missed, Due: t0.Add(dueAt), Lag: lag}
}

const sec = time.Second

var newTarget = RegisterResult{NewTarget: true}

func TestSchedule(t *testing.T) {
	small := DefaultConfig()
	small.MaxRegistrations = 2
	small.MaxNameLength = 4
	small.MinInterval = 10 * time.Millisecond

	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{name: "first tick comes after the initial delay", steps: []step{
			reg(0, "a", "t", sec, 3*sec).ok(newTarget),
			due(3*sec - 1),
			due(3*sec, fire("a", "t", 1, 0, 3*sec, 0)),
		}},
		{name: "zero initial delay is due at registration", steps: []step{
			reg(5*sec, "a", "t", sec, 0).ok(newTarget),
			due(5*sec, fire("a", "t", 1, 0, 5*sec, 0)),
		}},
		{name: "ticks follow every interval with seq counting up", steps: []step{
			reg(0, "a", "t", sec, sec).ok(newTarget),
			due(sec, fire("a", "t", 1, 0, sec, 0)),
			due(sec),
			due(2*sec, fire("a", "t", 2, 0, 2*sec, 0)),
			due(3*sec, fire("a", "t", 3, 0, 3*sec, 0)),
		}},
		{name: "a late tick within one interval is not coalesced and keeps the grid", steps: []step{
			reg(0, "a", "t", sec, sec).ok(newTarget),
			due(1500*time.Millisecond, fire("a", "t", 1, 0, sec, 500*time.Millisecond)),
			wake(2*sec, true),
			due(2*sec, fire("a", "t", 2, 0, 2*sec, 0)),
		}},
		{name: "a stall coalesces missed ticks into one whose seq jumps by the gap", steps: []step{
			reg(0, "a", "t", sec, sec).ok(newTarget),
			due(sec, fire("a", "t", 1, 0, sec, 0)),
			due(7500*time.Millisecond, fire("a", "t", 7, 5, 2*sec, 5500*time.Millisecond)),
			wake(8*sec, true),
			due(8*sec, fire("a", "t", 8, 0, 8*sec, 0)),
		}},
		{name: "registering the same name again replaces the schedule and restarts seq", steps: []step{
			reg(0, "a", "t", sec, sec).ok(newTarget),
			due(sec, fire("a", "t", 1, 0, sec, 0)),
			due(2*sec, fire("a", "t", 2, 0, 2*sec, 0)),
			reg(2*sec, "a", "t", 5*sec, 5*sec).ok(RegisterResult{Replaced: true}),
			due(6 * sec),
			due(7*sec, fire("a", "t", 1, 0, 7*sec, 0)),
			count(1, 1),
		}},
		{name: "several names per target fire in due order, ties in registration order", steps: []step{
			reg(0, "a", "fast", sec, sec).ok(newTarget),
			reg(0, "a", "slow", 2*sec, 2*sec).ok(RegisterResult{}),
			reg(0, "b", "fast", sec, sec).ok(newTarget),
			count(3, 2),
			due(sec, fire("a", "fast", 1, 0, sec, 0), fire("b", "fast", 1, 0, sec, 0)),
			due(2*sec, fire("a", "fast", 2, 0, 2*sec, 0), fire("a", "slow", 1, 0, 2*sec, 0), fire("b", "fast", 2, 0, 2*sec, 0)),
		}},
		{name: "unregister stops the ticks of that name only", steps: []step{
			reg(0, "a", "x", sec, sec).ok(newTarget),
			reg(0, "a", "y", sec, sec),
			unreg("a", "x", UnregisterResult{Found: true}),
			due(sec, fire("a", "y", 1, 0, sec, 0)),
			unreg("a", "y", UnregisterResult{Found: true, TargetGone: true}),
			due(5 * sec),
			count(0, 0),
			wake(0, false),
		}},
		{name: "unregister of an unknown name reports not found", steps: []step{
			reg(0, "a", "x", sec, sec).ok(newTarget),
			unreg("a", "nope", UnregisterResult{}),
			unreg("b", "x", UnregisterResult{}),
			count(1, 1),
		}},
		{name: "a removed target loses all its registrations and no other", steps: []step{
			reg(0, "a", "x", sec, sec).ok(newTarget),
			reg(0, "a", "y", 2*sec, sec),
			reg(0, "b", "x", sec, sec).ok(newTarget),
			rm("a", 2),
			rm("a", 0),
			count(1, 1),
			due(sec, fire("b", "x", 1, 0, sec, 0)),
		}},
		{name: "interval zero is rejected", steps: []step{
			reg(0, "a", "t", 0, 0).fails(ErrInvalidInterval),
			count(0, 0),
		}},
		{name: "negative interval is rejected", steps: []step{
			reg(0, "a", "t", -sec, 0).fails(ErrInvalidInterval),
		}},
		{name: "interval below MinInterval is rejected", cfg: small, steps: []step{
			reg(0, "a", "t", time.Millisecond, 0).fails(ErrIntervalTooShort),
		}},
		{name: "negative initial delay is rejected", steps: []step{
			reg(0, "a", "t", sec, -1).fails(ErrNegativeDelay),
		}},
		{name: "empty name is rejected", steps: []step{
			reg(0, "a", "", sec, 0).fails(ErrEmptyName),
		}},
		{name: "name longer than MaxNameLength is rejected", cfg: small, steps: []step{
			reg(0, "a", "12345", sec, 0).fails(ErrNameTooLong),
			reg(0, "a", strings.Repeat("x", 1<<20), sec, 0).fails(ErrNameTooLong),
			reg(0, "a", "1234", sec, 0).ok(newTarget),
		}},
		{name: "a new registration beyond MaxRegistrations is rejected; replacing still works", cfg: small, steps: []step{
			reg(0, "a", "x", sec, sec).ok(newTarget),
			reg(0, "b", "x", sec, sec).ok(newTarget),
			reg(0, "c", "x", sec, sec).fails(ErrFull),
			reg(0, "a", "y", sec, sec).fails(ErrFull),
			reg(0, "a", "x", 2*sec, 0).ok(RegisterResult{Replaced: true}),
			count(2, 2),
			unreg("b", "x", UnregisterResult{Found: true, TargetGone: true}),
			reg(0, "c", "x", sec, sec).ok(newTarget),
		}},
		{name: "a delay of centuries saturates instead of wrapping into the past", steps: []step{
			reg(0, "a", "t", sec, math.MaxInt64).ok(newTarget),
			due(200 * 365 * 24 * time.Hour),
			wake(math.MaxInt64, true),
		}},
		{name: "next wake is the earliest due time", steps: []step{
			wake(0, false),
			reg(0, "a", "slow", 10*sec, 10*sec).ok(newTarget),
			wake(10*sec, true),
			reg(0, "b", "fast", sec, 3*sec).ok(newTarget),
			wake(3*sec, true),
			rm("b", 1),
			wake(10*sec, true),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg == (Config{}) {
				cfg = DefaultConfig()
			}
			s := NewSchedule(cfg)
			for i, st := range tt.steps {
				run(t, fmt.Sprintf("step %d (%s %s/%s at %s)", i, st.kind, st.target, st.name, st.at), s, st)
			}
		})
	}
}

func run(t *testing.T, where string, s *Schedule, st step) {
	t.Helper()
	now := t0.Add(st.at)
	switch st.kind {
	case "reg":
		got, err := s.Register(st.target, st.name, st.interval, st.delay, now)
		if st.wantErr != nil {
			// The error names the registration, cut to 64 characters.
			if !errors.Is(err, st.wantErr) || !strings.Contains(err.Error(), fmt.Sprintf("%.64q", st.name)) || len(err.Error()) > 200 {
				t.Fatalf("%s: err = %.300v, want %v naming %.64q", where, err, st.wantErr, st.name)
			}
			return
		}
		if err != nil || got != st.wantReg {
			t.Fatalf("%s: got %+v, %v; want %+v", where, got, err, st.wantReg)
		}
	case "unreg":
		if got := s.Unregister(st.target, st.name); got != st.wantUnreg {
			t.Fatalf("%s: got %+v, want %+v", where, got, st.wantUnreg)
		}
	case "rm":
		if got := s.RemoveTarget(st.target); got != st.wantN {
			t.Fatalf("%s: removed %d, want %d", where, got, st.wantN)
		}
	case "due":
		if diff := cmp.Diff(st.wantFires, s.Due(now)); diff != "" {
			t.Fatalf("%s: fires (-want +got):\n%s", where, diff)
		}
	case "wake":
		at, ok := s.NextWake()
		if ok != st.wantOK || (ok && !at.Equal(t0.Add(st.wantWake))) {
			t.Fatalf("%s: NextWake = %s, %v; want t0+%s, %v", where, at, ok, st.wantWake, st.wantOK)
		}
	case "count":
		if s.Len() != st.wantN || s.Targets() != st.wantTgts {
			t.Fatalf("%s: Len %d Targets %d, want %d %d", where, s.Len(), s.Targets(), st.wantN, st.wantTgts)
		}
	default:
		t.Fatalf("%s: unknown step kind", where)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"MaxRegistrations", func(c *Config) { c.MaxRegistrations = 0 }},
		{"MaxRegistrations", func(c *Config) { c.MaxRegistrations = math.MaxUint32 + 1 }},
		{"MinInterval", func(c *Config) { c.MinInterval = 0 }},
		{"MaxNameLength", func(c *Config) { c.MaxNameLength = -1 }},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

// TestScheduleMatchesNaiveModel drives the schedule and a brute-force model
// (sort everything on each Due) with the same seeded random operations, so
// the hand-written heap is checked on far more shapes than the table covers.
func TestScheduleMatchesNaiveModel(t *testing.T) {
	type model struct {
		interval, next time.Duration
		seq, order     uint64
	}
	type mkey struct{ target, name string }
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewSchedule(DefaultConfig())
	want := map[mkey]*model{}
	var order uint64
	now := time.Duration(0)
	targets := []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	names := []string{"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7"}
	for i := range 10_000 {
		k := mkey{targets[rng.IntN(len(targets))], names[rng.IntN(len(names))]}
		switch op := rng.IntN(10); {
		case op < 3:
			iv := time.Duration(1+rng.IntN(50)) * time.Millisecond
			d := time.Duration(rng.IntN(100)) * time.Millisecond
			if _, err := s.Register(k.target, k.name, iv, d, t0.Add(now)); err != nil {
				t.Fatalf("op %d: %v", i, err)
			}
			order++
			want[k] = &model{interval: iv, next: now + d, order: order}
		case op < 4:
			_, had := want[k]
			if got := s.Unregister(k.target, k.name); got.Found != had {
				t.Fatalf("op %d: Unregister found=%v, model %v", i, got.Found, had)
			}
			delete(want, k)
		case op < 5:
			n := 0
			for mk := range want {
				if mk.target == k.target {
					delete(want, mk)
					n++
				}
			}
			if got := s.RemoveTarget(k.target); got != n {
				t.Fatalf("op %d: RemoveTarget = %d, model %d", i, got, n)
			}
		default:
			now += time.Duration(rng.IntN(120)) * time.Millisecond
			var exp []Fire
			var keys []mkey
			for mk, m := range want {
				if m.next <= now {
					keys = append(keys, mk)
				}
			}
			slices.SortFunc(keys, func(a, b mkey) int {
				if c := want[a].next - want[b].next; c != 0 {
					return int(c)
				}
				return int(want[a].order) - int(want[b].order)
			})
			for _, mk := range keys {
				m := want[mk]
				lag := now - m.next
				missed := uint64(lag / m.interval)
				m.seq += 1 + missed
				exp = append(exp, Fire{Target: mk.target, Name: mk.name, Seq: m.seq, Missed: missed, Due: t0.Add(m.next), Lag: lag})
				m.next += time.Duration(missed+1) * m.interval
			}
			// cmp.Diff only on failure: it dominates the run time otherwise.
			if got := s.Due(t0.Add(now)); !slices.EqualFunc(exp, got, sameFire) {
				t.Fatalf("op %d: Due (-model +schedule):\n%s", i, cmp.Diff(exp, got))
			}
		}
		if s.Len() != len(want) {
			t.Fatalf("op %d: Len %d, model %d", i, s.Len(), len(want))
		}
	}
}

func sameFire(a, b Fire) bool {
	return a.Target == b.Target && a.Name == b.Name && a.Seq == b.Seq && a.Missed == b.Missed &&
		a.Due.Equal(b.Due) && a.Lag == b.Lag
}
