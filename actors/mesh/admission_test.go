package mesh

import (
	"slices"
	"testing"
	"time"
)

// TestAdmission drives the admission core through steps; after each the
// decision, the released publishes, the state and the counters must match.
func TestAdmission(t *testing.T) {
	cfg := AdmissionConfig{Quorum: 0.5, MinPeers: 2, MaxHold: time.Second, MaxHeld: 2}
	t0 := time.Unix(1000, 0)
	type step struct {
		at             time.Duration // since t0
		signal         *[2]int       // congested, mesh (nil: none)
		offer          int           // publish to offer (0: none)
		want           AdmissionDecision
		release        bool
		released       []int
		congested      bool
		holding        int
		due            time.Duration // -1: none held
		admitted, held uint64
		refused        uint64
		early, late    uint64
	}
	sig := func(c, m int) *[2]int { return &[2]int{c, m} }
	cases := []struct {
		name  string
		cfg   AdmissionConfig
		steps []step
	}{
		{"healthy admits at once", cfg, []step{
			{offer: 1, want: Admit, due: -1, admitted: 1},
			{signal: sig(1, 6), offer: 2, want: Admit, due: -1, admitted: 2}, // one stuck peer of six
		}},
		{"one congested peer of two is not enough (MinPeers)", cfg, []step{
			{signal: sig(1, 2), offer: 1, want: Admit, due: -1, admitted: 1},
		}},
		{"quorum of the mesh holds, healthy again releases in order", cfg, []step{
			{signal: sig(3, 6), offer: 1, want: Hold, congested: true, holding: 1, due: time.Second, held: 1},
			{at: 100 * time.Millisecond, offer: 2, want: Hold, congested: true, holding: 2, due: 900 * time.Millisecond, held: 2},
			{at: 200 * time.Millisecond, release: true, congested: true, holding: 2, due: 800 * time.Millisecond, held: 2},
			{at: 300 * time.Millisecond, signal: sig(2, 6), release: true, released: []int{1, 2}, due: -1, held: 2, early: 2},
			{at: 400 * time.Millisecond, offer: 3, want: Admit, due: -1, held: 2, early: 2, admitted: 1},
		}},
		{"a held publish is admitted after MaxHold while still congested", cfg, []step{
			{signal: sig(2, 4), offer: 1, want: Hold, congested: true, holding: 1, due: time.Second, held: 1},
			{at: 500 * time.Millisecond, offer: 2, want: Hold, congested: true, holding: 2, due: 500 * time.Millisecond, held: 2},
			{at: 999 * time.Millisecond, release: true, congested: true, holding: 2, due: time.Millisecond, held: 2},
			{at: time.Second, release: true, released: []int{1}, congested: true, holding: 1, due: 500 * time.Millisecond, held: 2, late: 1},
			{at: 1500 * time.Millisecond, release: true, released: []int{2}, congested: true, due: -1, held: 2, late: 2},
		}},
		{"a full admission queue refuses", cfg, []step{
			{signal: sig(4, 4), offer: 1, want: Hold, congested: true, holding: 1, due: time.Second, held: 1},
			{offer: 2, want: Hold, congested: true, holding: 2, due: time.Second, held: 2},
			{offer: 3, want: Refuse, congested: true, holding: 2, due: time.Second, held: 2, refused: 1},
		}},
		{"publishes keep their order: healthy but still holding holds", cfg, []step{
			{signal: sig(2, 2), offer: 1, want: Hold, congested: true, holding: 1, due: time.Second, held: 1},
			{signal: sig(0, 2), offer: 2, want: Hold, holding: 2, due: time.Second, held: 2},
			{release: true, released: []int{1, 2}, due: -1, held: 2, early: 2},
		}},
		{"off: never holds", AdmissionConfig{}, []step{
			{signal: sig(6, 6), offer: 1, want: Admit, due: -1, admitted: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAdmission[int](tc.cfg)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.signal != nil {
					a.Signal(s.signal[0], s.signal[1])
				}
				if s.offer != 0 {
					if got := a.Offer(now, s.offer); got != s.want {
						t.Fatalf("step %d: Offer = %s, want %s", i, got, s.want)
					}
				}
				if s.release {
					if got := a.Release(now, nil); !slices.Equal(got, s.released) {
						t.Fatalf("step %d: Release = %v, want %v", i, got, s.released)
					}
				}
				st := a.Stats()
				if st.Congested != s.congested || st.Holding != s.holding || st.Admitted != s.admitted || st.Held != s.held ||
					st.Refused != s.refused || st.ReleasedEarly != s.early || st.ReleasedLate != s.late {
					t.Fatalf("step %d: stats %+v, want congested %v holding %d admitted %d held %d refused %d early %d late %d",
						i, st, s.congested, s.holding, s.admitted, s.held, s.refused, s.early, s.late)
				}
				d, ok := a.Due(now)
				if (s.due < 0) == ok || (ok && d != s.due) {
					t.Fatalf("step %d: Due = %s, %v; want %s", i, d, ok, s.due)
				}
			}
		})
	}
}

func TestAdmissionDrainAndEpisodes(t *testing.T) {
	a := NewAdmission[int](DefaultAdmission())
	now := time.Unix(0, 0)
	a.Signal(4, 6)
	a.Offer(now, 1)
	a.Offer(now, 2)
	a.Signal(0, 6)
	a.Signal(3, 6)
	if got := a.Drain(nil); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("Drain = %v", got)
	}
	if st := a.Stats(); st.Holding != 0 || st.Episodes != 2 || st.ReleasedEarly != 2 {
		t.Fatalf("stats %+v: want nothing held, 2 episodes, 2 released", st)
	}
}

func TestAdmissionConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg AdmissionConfig
		ok  bool
	}{
		{DefaultAdmission(), true},
		{AdmissionConfig{}, true},
		{AdmissionConfig{Quorum: 1.5, MinPeers: 1, MaxHold: time.Second, MaxHeld: 1}, false},
		{AdmissionConfig{Quorum: 0.5, MinPeers: 0, MaxHold: time.Second, MaxHeld: 1}, false},
		{AdmissionConfig{Quorum: 0.5, MinPeers: 1, MaxHold: 0, MaxHeld: 1}, false},
		{AdmissionConfig{Quorum: 0.5, MinPeers: 1, MaxHold: time.Second, MaxHeld: 0}, false},
	} {
		cfg := DefaultConfig(ProfileWaku)
		cfg.Admission = c.cfg
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}
