package actorkit_test

import (
	"strings"
	"testing"
	"testing/synctest"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/actorkit"
	"github.com/peermesh/peermesh/internal/bubble"
)

func TestIsAllowed(t *testing.T) {
	tests := []struct {
		name string
		msg  any
		want bool
	}{
		{"protobuf message", wrapperspb.String("x"), true},
		{"protoactor terminated (protobuf)", &actor.Terminated{}, true},
		{"protoactor poison pill", &actor.PoisonPill{}, true},
		{"protoactor system stop", &actor.Stop{}, true},
		{"receive timeout", &actor.ReceiveTimeout{}, true},
		{"plain struct", struct{ A int }{1}, false},
		{"pointer to plain struct", &struct{ A int }{1}, false},
		{"string", "hello", false},
		{"channel", make(chan int), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := actorkit.IsAllowed(tt.msg); got != tt.want {
				t.Fatalf("IsAllowed(%T) = %v, want %v", tt.msg, got, tt.want)
			}
		})
	}
}

func TestViolationWithoutReporterIsCountedAndDelivered(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		// A bare system (no actortest reporter) behaves as in production.
		sys := actor.NewActorSystem()
		defer sys.Shutdown()
		got := make(chan any, 1)
		sink := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if s, ok := c.Message().(string); ok {
				got <- s
			}
		}))
		before := actorkit.Violations()
		src := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(*wrapperspb.StringValue); ok {
					c.Send(sink, "plain string")
				}
			})
		}))
		sys.Root.Send(src, wrapperspb.String("go"))
		if v := <-got; v != "plain string" {
			t.Fatalf("delivered %v", v)
		}
		if d := actorkit.Violations() - before; d != 1 {
			t.Fatalf("violations counted %d, want 1", d)
		}
	})
}

func TestMailboxMetricsTrackDepth(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		mm, err := actorkit.NewMailboxMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		done := make(chan struct{}, 8)
		pid := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(*wrapperspb.StringValue); ok {
					<-release
					done <- struct{}{}
				}
			})
		}, mm.Option("blocking")))
		for range 5 {
			sys.Root.Send(pid, wrapperspb.String("x"))
		}
		synctest.Wait()
		// One message is in process and four wait; both count until handled.
		depth := testutil.ToFloat64(mustGauge(t, reg, "peermesh_actor_mailbox_depth"))
		if depth != 5 {
			close(release)
			t.Fatalf("depth = %v, want 5", depth)
		}
		close(release)
		for range 5 {
			<-done
		}
		synctest.Wait()
		if depth := testutil.ToFloat64(mustGauge(t, reg, "peermesh_actor_mailbox_depth")); depth != 0 {
			t.Fatalf("depth after drain = %v, want 0", depth)
		}
		if high := testutil.ToFloat64(mustGauge(t, reg, "peermesh_actor_mailbox_high_water")); high < 5 {
			t.Fatalf("high water = %v, want >= 5", high)
		}
	})
}

func mustGauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func TestRegisterSharesAnEqualCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "peermesh_test_total", Help: "a test counter"}
	first, err := actorkit.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := actorkit.Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatalf("second registration of an equal collector: %v", err)
	}
	second.Inc()
	if got := testutil.ToFloat64(first); got != 1 {
		t.Fatalf("the second actor's counter is not the registered one: first = %v", got)
	}
}

func TestRegisterReportsAClashAndKeepsTheCollectorUsable(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "peermesh_test_total", Help: "someone else's"}))
	r := actorkit.Registrar{Reg: reg}
	c := actorkit.Add(&r, prometheus.NewCounter(prometheus.CounterOpts{Name: "peermesh_test_total", Help: "ours"}))
	c.Inc() // unexported, but it must not panic
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "register metric") {
		t.Fatalf("Err() = %v, want the registration failure", err)
	}
	if got := testutil.ToFloat64(c); got != 1 {
		t.Fatalf("collector value %v, want 1", got)
	}
}

func TestRegistrarWithoutRegistererRegistersNothing(t *testing.T) {
	r := actorkit.Registrar{}
	c := actorkit.Add(&r, prometheus.NewCounter(prometheus.CounterOpts{Name: "peermesh_test_total", Help: "x"}))
	c.Inc()
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v with no registerer", err)
	}
}

// TestViolationFromOutsideAnyActorIsCaughtOnReceipt: a goroutine or timer
// reports to its actor through the root context, which has no sender
// middleware; the receiving peermesh actor still catches a plain Go value.
func TestViolationFromOutsideAnyActorIsCaughtOnReceipt(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actor.NewActorSystem()
		defer sys.Shutdown()
		got := make(chan any, 1)
		pid := sys.Root.Spawn(actorkit.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if s, ok := c.Message().(string); ok {
					got <- s
				}
			})
		}))
		before := actorkit.Violations()
		go sys.Root.Send(pid, "from my own goroutine")
		if v := <-got; v != "from my own goroutine" {
			t.Fatalf("delivered %v", v)
		}
		if d := actorkit.Violations() - before; d != 1 {
			t.Fatalf("violations counted %d, want 1", d)
		}
		sys.Root.Send(pid, wrapperspb.String("protobuf is fine"))
		synctest.Wait()
		if d := actorkit.Violations() - before; d != 1 {
			t.Fatalf("violations counted %d after a protobuf message, want still 1", d)
		}
	})
}
