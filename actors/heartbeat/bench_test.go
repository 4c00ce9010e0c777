package heartbeat_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/peermesh/peermesh/actors/heartbeat"
)

// BenchmarkDue measures the heartbeat's hot path with 10,000 registrations
// of 1 s spread evenly over the second: "spread" advances 1 ms per call (about
// ten fires each, the steady state), "burst" advances a whole second per call
// so all 10,000 fire at once.
func BenchmarkDue(b *testing.B) {
	const n = 10_000
	for _, bc := range []struct {
		name string
		step time.Duration
	}{
		{"spread", time.Millisecond},
		{"burst", time.Second},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := heartbeat.DefaultConfig()
			cfg.MaxRegistrations = n
			s := heartbeat.NewSchedule(cfg)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range n {
				delay := time.Duration(i) * time.Second / n
				if _, err := s.Register(fmt.Sprintf("target-%d", i%100), fmt.Sprintf("name-%d", i), time.Second, delay, start); err != nil {
					b.Fatal(err)
				}
			}
			now := start
			var fires []heartbeat.Fire
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(bc.step)
				fires = s.AppendDue(fires[:0], now)
			}
		})
	}
}
