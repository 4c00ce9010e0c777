package heartbeat_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/peermesh/peermesh/actors/heartbeat"
	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
	heartbeatv1 "github.com/peermesh/peermesh/messages/heartbeat/v1"
)

// fixture is one heartbeat actor under test with its metrics registry.
type fixture struct {
	sys *actor.ActorSystem
	hb  *actor.PID
	reg *prometheus.Registry
	tap *actortest.Tap
}

func start(t *testing.T, cfg heartbeat.Config, clock heartbeat.Clock) fixture {
	t.Helper()
	sys := actortest.NewSystem(t)
	reg := prometheus.NewRegistry()
	tap := actortest.NewTap()
	hb := sys.Root.Spawn(heartbeat.Props(cfg, heartbeat.Deps{Registerer: reg, Clock: clock}, tap.Options()...))
	return fixture{sys: sys, hb: hb, reg: reg, tap: tap}
}

func register(p *actortest.Probe, hb *actor.PID, name string, interval, delay time.Duration) {
	p.Request(hb, &heartbeatv1.Register{Name: name, Interval: durationpb.New(interval), InitialDelay: durationpb.New(delay)})
	p.ExpectMessage(&heartbeatv1.Registered{Name: name})
}

func tick(name string, seq uint64, now time.Time) *heartbeatv1.Tick {
	return &heartbeatv1.Tick{Name: name, Seq: seq, Now: timestamppb.New(now)}
}

// sample sums the named metric over the series whose labels include the
// given name/value pairs: counter and gauge values, histogram sums, and the
// histogram sample count.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (value float64, count uint64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			value += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetHistogram().GetSampleSum()
			count += m.GetHistogram().GetSampleCount()
		}
	}
	return value, count
}

func TestOneVirtualHourIsExactly3600Ticks(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		register(p, f.hb, "hb", time.Second, time.Second)
		for i := uint64(1); i <= 3600; i++ {
			p.ExpectMessage(tick("hb", i, t0.Add(time.Duration(i)*time.Second)))
		}
		if got := time.Since(t0); got != time.Hour {
			t.Fatalf("3600 ticks took %s of virtual time, want 1h", got)
		}
		// The 3601st is due one second after the hour, not before.
		p.ExpectNoMessage(time.Second - time.Nanosecond)
		if sent, _ := sample(t, f.reg, "peermesh_heartbeat_ticks_sent_total"); sent != 3600 {
			t.Fatalf("ticks_sent_total = %v, want 3600", sent)
		}
		if lag, n := sample(t, f.reg, "peermesh_heartbeat_tick_lag_seconds"); n != 3600 || lag != 0 {
			t.Fatalf("tick lag: %d samples summing %vs, want 3600 punctual", n, lag)
		}
	})
}

func TestInitialDelayIsHonoured(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		register(p, f.hb, "late", time.Second, 10*time.Second)
		p.ExpectNoMessage(10*time.Second - time.Nanosecond)
		p.ExpectMessage(tick("late", 1, t0.Add(10*time.Second)))
		p.ExpectMessage(tick("late", 2, t0.Add(11*time.Second)))
	})
}

func TestZeroInitialDelayTicksRightAfterRegistered(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		p.Request(f.hb, &heartbeatv1.Register{Name: "now", Interval: durationpb.New(time.Minute)})
		p.ExpectMessage(&heartbeatv1.Registered{Name: "now"})
		p.ExpectMessageWithin(time.Nanosecond, tick("now", 1, t0))
		p.ExpectNoMessage(time.Minute - time.Nanosecond)
		p.ExpectMessage(tick("now", 2, t0.Add(time.Minute)))
	})
}

func TestTwoRegistrationsOfOneTargetInterleave(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
		register(p, f.hb, "fast", time.Second, time.Second)
		register(p, f.hb, "slow", 3*time.Second, 3*time.Second)
		// At equal due times the earlier registration goes first.
		for _, want := range []*heartbeatv1.Tick{
			tick("fast", 1, at(1)), tick("fast", 2, at(2)), tick("fast", 3, at(3)), tick("slow", 1, at(3)),
			tick("fast", 4, at(4)), tick("fast", 5, at(5)), tick("fast", 6, at(6)), tick("slow", 2, at(6)),
		} {
			p.ExpectMessage(want)
		}
	})
}

func TestUnregisterStopsTicks(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		register(p, f.hb, "a", time.Second, time.Second)
		actortest.Expect[*heartbeatv1.Tick](p)
		actortest.Expect[*heartbeatv1.Tick](p)
		p.Request(f.hb, &heartbeatv1.Unregister{Name: "a"})
		p.ExpectMessage(&heartbeatv1.Unregistered{Name: "a", Found: true})
		p.ExpectNoMessage(time.Hour)
		p.Request(f.hb, &heartbeatv1.Unregister{Name: "a"})
		p.ExpectMessage(&heartbeatv1.Unregistered{Name: "a", Found: false})
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_registrations"); n != 0 {
			t.Fatalf("registrations gauge = %v after unregister, want 0", n)
		}
	})
}

// relay is a target that registers itself and forwards what the heartbeat
// sends it to a probe, so the test can stop the target and still watch,
// through the probe, that nothing more is sent on its behalf.
func relay(hb, to *actor.PID, regs ...*heartbeatv1.Register) *actor.Props {
	return actorkit.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				for _, r := range regs {
					c.Request(hb, r)
				}
			case proto.Message:
				c.Send(to, m)
			}
		})
	})
}

func TestStoppedTargetIsUnregistered(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		target := f.sys.Root.Spawn(relay(f.hb, p.PID(),
			&heartbeatv1.Register{Name: "x", Interval: durationpb.New(time.Second), InitialDelay: durationpb.New(time.Second)},
			&heartbeatv1.Register{Name: "y", Interval: durationpb.New(time.Minute), InitialDelay: durationpb.New(time.Minute)}))
		p.ExpectMessage(&heartbeatv1.Registered{Name: "x"})
		p.ExpectMessage(&heartbeatv1.Registered{Name: "y"})
		register(p, f.hb, "x", time.Hour, time.Hour)
		p.Request(f.hb, &heartbeatv1.GetStats{})
		p.ExpectMessage(&heartbeatv1.Stats{Registrations: 3, Targets: 2, MaxRegistrations: 4096})
		p.ExpectMessage(tick("x", 1, t0.Add(time.Second))) // relayed from the target

		f.sys.Root.Stop(target)
		synctest.Wait() // the heartbeat has handled the target's Terminated
		p.Request(f.hb, &heartbeatv1.GetStats{})
		p.ExpectMessage(&heartbeatv1.Stats{Registrations: 1, Targets: 1, MaxRegistrations: 4096})
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_registrations"); n != 1 {
			t.Fatalf("registrations gauge = %v, want 1", n)
		}
		sentBefore := len(f.tap.Sent())
		p.ExpectNoMessage(time.Hour - time.Second - time.Nanosecond)
		if sent := len(f.tap.Sent()) - sentBefore; sent != 0 {
			t.Fatalf("heartbeat sent %d messages after the target stopped", sent)
		}
		p.ExpectMessage(tick("x", 1, t0.Add(time.Hour))) // the probe's own registration lives on
	})
}

// skewClock runs ahead of the (virtual) system clock by a settable amount: a
// jump of its skew looks to the heartbeat exactly like a stall of that length.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) Now() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

func TestStallCoalescesMissedTicks(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		clock := &skewClock{}
		f := start(t, heartbeat.DefaultConfig(), clock)
		p := actortest.NewProbe(t, f.sys)
		t0 := time.Now()
		register(p, f.hb, "hb", time.Second, time.Second)
		p.ExpectMessage(tick("hb", 1, t0.Add(time.Second)))
		synctest.Wait() // the timer for tick 2 is armed before the stall
		clock.skew.Store(int64(5 * time.Second))

		// Due at 2 s, seen at 7 s: ticks 2..6 are missed, 7 stands for them.
		p.ExpectMessage(tick("hb", 7, t0.Add(7*time.Second)))
		p.ExpectMessage(tick("hb", 8, t0.Add(8*time.Second)))
		p.ExpectNoMessage(time.Second - time.Nanosecond)

		if missed, _ := sample(t, f.reg, "peermesh_heartbeat_ticks_missed_total"); missed != 5 {
			t.Fatalf("ticks_missed_total = %v, want 5", missed)
		}
		if sent, _ := sample(t, f.reg, "peermesh_heartbeat_ticks_sent_total"); sent != 3 {
			t.Fatalf("ticks_sent_total = %v, want 3", sent)
		}
		if lag, n := sample(t, f.reg, "peermesh_heartbeat_tick_lag_seconds"); n != 3 || lag != 5 {
			t.Fatalf("tick lag: %d samples summing %vs, want 3 summing 5s", n, lag)
		}
	})
}

func TestBadRegisterIsAnsweredWithAClearError(t *testing.T) {
	tests := []struct {
		name string
		msg  *heartbeatv1.Register
		want string
	}{
		{"missing interval", &heartbeatv1.Register{Name: "a"}, "interval must be > 0"},
		{"negative interval", &heartbeatv1.Register{Name: "a", Interval: durationpb.New(-time.Second)}, "interval must be > 0"},
		{"malformed interval", &heartbeatv1.Register{Name: "a", Interval: &durationpb.Duration{Seconds: 1, Nanos: -5}}, "interval: "},
		{"negative delay", &heartbeatv1.Register{Name: "a", Interval: durationpb.New(time.Second), InitialDelay: durationpb.New(-1)}, "initial delay must be >= 0"},
		{"empty name", &heartbeatv1.Register{Interval: durationpb.New(time.Second)}, "name must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				f := start(t, heartbeat.DefaultConfig(), nil)
				p := actortest.NewProbe(t, f.sys)
				p.Request(f.hb, tt.msg)
				got := actortest.Expect[*heartbeatv1.Registered](p)
				if got.GetName() != tt.msg.GetName() || !strings.Contains(got.GetError(), tt.want) {
					t.Fatalf("Registered = %v, want an error containing %q", got, tt.want)
				}
				p.ExpectNoMessage(time.Minute)
				if n, _ := sample(t, f.reg, "peermesh_heartbeat_registrations_rejected_total", "reason", "invalid"); n != 1 {
					t.Fatalf("rejected{invalid} = %v, want 1", n)
				}
			})
		})
	}
}

func TestRegisterWhenFullIsRejected(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := heartbeat.DefaultConfig()
		cfg.MaxRegistrations = 1
		f := start(t, cfg, nil)
		p := actortest.NewProbe(t, f.sys)
		register(p, f.hb, "a", time.Second, time.Hour)
		p.Request(f.hb, &heartbeatv1.Register{Name: "b", Interval: durationpb.New(time.Second)})
		got := actortest.Expect[*heartbeatv1.Registered](p)
		if !strings.Contains(got.GetError(), "registrations full (max 1)") {
			t.Fatalf("Registered = %v, want a full error", got)
		}
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_registrations_rejected_total", "reason", "full"); n != 1 {
			t.Fatalf("rejected{full} = %v, want 1", n)
		}
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_registrations_limit"); n != 1 {
			t.Fatalf("registrations_limit = %v, want 1", n)
		}
		register(p, f.hb, "a", time.Second, 0) // replacing is not growth
		p.ExpectMessage(tick("a", 1, time.Now()))
	})
}

func TestRequestsWithoutSenderAndStrayMessagesAreCountedAndDropped(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		f := start(t, heartbeat.DefaultConfig(), nil)
		p := actortest.NewProbe(t, f.sys)
		p.Send(f.hb, &heartbeatv1.Register{Name: "a", Interval: durationpb.New(time.Second)})
		p.Send(f.hb, &heartbeatv1.Unregister{Name: "a"})
		p.Send(f.hb, &heartbeatv1.GetStats{})
		p.Send(f.hb, &heartbeatv1.Tick{Name: "not for me"})
		p.Request(f.hb, &heartbeatv1.GetStats{})
		p.ExpectMessage(&heartbeatv1.Stats{MaxRegistrations: 4096})
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_messages_dropped_total", "reason", "no_sender"); n != 3 {
			t.Fatalf("dropped{no_sender} = %v, want 3", n)
		}
		if n, _ := sample(t, f.reg, "peermesh_heartbeat_messages_dropped_total", "reason", "unexpected"); n != 1 {
			t.Fatalf("dropped{unexpected} = %v, want 1", n)
		}
		p.ExpectNoMessage(time.Minute)
	})
}

// supervise spawns child as its own child and forwards the child's
// Terminated to a probe: a parent is told of a child's end even when the
// child stops before anyone could watch it.
func supervise(child *actor.Props, to *actor.PID) *actor.Props {
	return actorkit.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				c.Spawn(child)
			case *actor.Terminated:
				c.Send(to, m)
			}
		})
	})
}

func TestInvalidConfigStopsTheActor(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := heartbeat.DefaultConfig()
		cfg.MinInterval = 0
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		sys.Root.Spawn(supervise(heartbeat.Props(cfg, heartbeat.Deps{}), p.PID()))
		actortest.Expect[*actor.Terminated](p)
	})
}

func TestTwoActorsShareOneRegistry(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		a := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Registerer: reg}))
		b := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Registerer: reg}))
		p := actortest.NewProbe(t, sys)
		register(p, a, "x", time.Second, time.Hour)
		register(p, b, "x", time.Second, time.Hour)
		if n, _ := sample(t, reg, "peermesh_heartbeat_registrations"); n != 2 {
			t.Fatalf("registrations gauge = %v, want 2", n)
		}
		sys.Root.Stop(a)
		synctest.Wait()
		if n, _ := sample(t, reg, "peermesh_heartbeat_registrations"); n != 1 {
			t.Fatalf("registrations gauge = %v after one actor stopped, want 1", n)
		}
	})
}

// TestMetricNameClashDoesNotStopTheClock: a registry that already holds a
// different metric under one of the heartbeat's names is logged, and the
// heartbeat still ticks (every other actor depends on it).
func TestMetricNameClashDoesNotStopTheClock(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "peermesh_heartbeat_registrations", Help: "someone else's"}))
		hb := sys.Root.Spawn(heartbeat.Props(heartbeat.DefaultConfig(), heartbeat.Deps{Registerer: reg}))
		p := actortest.NewProbe(t, sys)
		t0 := time.Now()
		register(p, hb, "x", time.Second, time.Second)
		p.ExpectMessage(tick("x", 1, t0.Add(time.Second)))
		synctest.Wait() // the tick is counted after it is sent
		if sent, _ := sample(t, reg, "peermesh_heartbeat_ticks_sent_total"); sent != 1 {
			t.Fatalf("ticks_sent_total = %v, want the other metrics exported", sent)
		}
	})
}
