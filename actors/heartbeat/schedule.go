package heartbeat

import (
	"container/heap"
	"errors"
	"fmt"
	"time"
)

// Reasons a Register is rejected. Errors returned by Schedule.Register wrap
// one of them, with the offending value, so callers can both read and match.
var (
	ErrEmptyName        = errors.New("name must not be empty")
	ErrNameTooLong      = errors.New("name too long")
	ErrInvalidInterval  = errors.New("interval must be > 0")
	ErrIntervalTooShort = errors.New("interval below the minimum")
	ErrNegativeDelay    = errors.New("initial delay must be >= 0")
	ErrFull             = errors.New("registrations full")
)

// entry is one registration. next is always on the grid
// first + k·interval, so ticks never drift however late they are sent.
type entry struct {
	target   string
	name     string
	interval time.Duration
	next     time.Time
	seq      uint64 // seq of the last tick fired
	order    uint64 // registration order, breaks ties between equal due times
	index    int    // position in the queue
}

// Schedule is the heartbeat's pure core: the registrations and when each is
// next due. It never reads the clock; every call takes now. Not safe for
// concurrent use: the actor owns it.
type Schedule struct {
	cfg Config
	// targets indexes registrations by target then name, so that a stopped
	// target is dropped without scanning the whole schedule.
	targets map[string]map[string]*entry
	queue   queue // every entry, earliest due first
	order   uint64
}

// NewSchedule returns an empty schedule bounded by cfg (which must be valid).
func NewSchedule(cfg Config) *Schedule {
	return &Schedule{
		cfg:     cfg,
		targets: make(map[string]map[string]*entry),
	}
}

// Register schedules a tick named name for target every interval, the first
// at now+delay. Registering an existing (target, name) replaces its schedule
// and restarts seq. A new pair beyond Config.MaxRegistrations is rejected.
func (s *Schedule) Register(target, name string, interval, delay time.Duration, now time.Time) (RegisterResult, error) {
	if err := s.check(name, interval, delay); err != nil {
		return RegisterResult{}, fmt.Errorf("register %q: %w", name, err)
	}
	s.order++
	names := s.targets[target]
	if e, ok := names[name]; ok {
		e.interval, e.next, e.seq, e.order = interval, now.Add(delay), 0, s.order
		heap.Fix(&s.queue, e.index)
		return RegisterResult{Replaced: true}, nil
	}
	if len(s.queue) >= s.cfg.MaxRegistrations {
		return RegisterResult{}, fmt.Errorf("register %q: %w (max %d)", name, ErrFull, s.cfg.MaxRegistrations)
	}
	newTarget := names == nil
	if newTarget {
		names = make(map[string]*entry, 1)
		s.targets[target] = names
	}
	e := &entry{target: target, name: name, interval: interval, next: now.Add(delay), order: s.order}
	names[name] = e
	heap.Push(&s.queue, e)
	return RegisterResult{NewTarget: newTarget}, nil
}

func (s *Schedule) check(name string, interval, delay time.Duration) error {
	switch {
	case name == "":
		return ErrEmptyName
	case len(name) > s.cfg.MaxNameLength:
		return fmt.Errorf("%w: %d bytes (max %d)", ErrNameTooLong, len(name), s.cfg.MaxNameLength)
	case interval <= 0:
		return fmt.Errorf("%w, got %s", ErrInvalidInterval, interval)
	case interval < s.cfg.MinInterval:
		return fmt.Errorf("%w: %s < %s", ErrIntervalTooShort, interval, s.cfg.MinInterval)
	case delay < 0:
		return fmt.Errorf("%w, got %s", ErrNegativeDelay, delay)
	}
	return nil
}

// Unregister removes the (target, name) registration.
func (s *Schedule) Unregister(target, name string) UnregisterResult {
	e, ok := s.targets[target][name]
	if !ok {
		return UnregisterResult{}
	}
	return UnregisterResult{Found: true, TargetGone: s.remove(e)}
}

// RemoveTarget drops every registration of target (it stopped) and returns
// how many there were.
func (s *Schedule) RemoveTarget(target string) int {
	names := s.targets[target]
	for _, e := range names {
		heap.Remove(&s.queue, e.index)
	}
	delete(s.targets, target)
	return len(names)
}

// remove deletes e and reports whether its target has no registration left.
func (s *Schedule) remove(e *entry) bool {
	heap.Remove(&s.queue, e.index)
	names := s.targets[e.target]
	delete(names, e.name)
	if len(names) > 0 {
		return false
	}
	delete(s.targets, e.target)
	return true
}

// Due returns the ticks due at now, see AppendDue.
func (s *Schedule) Due(now time.Time) []Fire { return s.AppendDue(nil, now) }

// AppendDue appends to dst one Fire per registration due at or before now,
// earliest first, and advances each to its next grid point after now. A
// registration that missed several grid points (a stall) fires once, with seq
// advanced by the whole gap, instead of bursting.
func (s *Schedule) AppendDue(dst []Fire, now time.Time) []Fire {
	for len(s.queue) > 0 {
		e := s.queue[0]
		if e.next.After(now) {
			break
		}
		lag := now.Sub(e.next)
		missed := uint64(lag / e.interval)
		e.seq += 1 + missed
		dst = append(dst, Fire{Target: e.target, Name: e.name, Seq: e.seq, Missed: missed, Due: e.next, Lag: lag})
		// The next grid point strictly after now; computed from now so that
		// a huge lag cannot overflow a multiplication.
		e.next = now.Add(e.interval - lag%e.interval)
		heap.Fix(&s.queue, 0)
	}
	return dst
}

// NextWake returns the earliest due time, or ok=false when nothing is
// registered: the actor arms its one timer for it.
func (s *Schedule) NextWake() (time.Time, bool) {
	if len(s.queue) == 0 {
		return time.Time{}, false
	}
	return s.queue[0].next, true
}

// Len returns the number of registrations.
func (s *Schedule) Len() int { return len(s.queue) }

// Targets returns the number of distinct targets.
func (s *Schedule) Targets() int { return len(s.targets) }

// queue is a min-heap of entries by (next, order).
type queue []*entry

func (q queue) Len() int { return len(q) }

func (q queue) Less(i, j int) bool {
	if !q[i].next.Equal(q[j].next) {
		return q[i].next.Before(q[j].next)
	}
	return q[i].order < q[j].order
}

func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *queue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	e.index = -1
	return e
}
