package dialer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// env is one dial pool actor under test with its fake dialer and registry.
type env struct {
	sys    *actor.ActorSystem
	pid    *actor.PID
	dialer *fakeDialer
	reg    *prometheus.Registry
	tap    *actortest.Tap
	// p is the main probe. It is made before the pool's cleanup is
	// registered, so at cleanup the pool stops (answering CANCELLED) while
	// the probe still listens.
	p *actortest.Probe
}

func newEnv(t *testing.T, cfg Config, d *fakeDialer) *env {
	t.Helper()
	e := &env{sys: actortest.NewSystem(t), dialer: d, reg: prometheus.NewRegistry(), tap: actortest.NewTap()}
	e.p = actortest.NewProbe(t, e.sys)
	e.pid = e.sys.Root.Spawn(Props(cfg, Deps{Dialer: d, Registerer: e.reg}, e.tap.Options()...))
	// ActorSystem.Shutdown does not stop actors; stopping the pool cancels
	// the dials still running so the bubble ends with no goroutine left.
	// A test may have stopped the pool already; a second stop would only
	// log a dead letter.
	t.Cleanup(func() {
		if _, alive := e.sys.ProcessRegistry.Get(e.pid); alive {
			_ = e.sys.Root.StopFuture(e.pid).Wait()
		}
	})
	return e
}

func dialMsg(p peer.ID, src dialerv1.DialSource, addrs ...string) *dialerv1.DialPeer {
	m := &dialerv1.DialPeer{PeerId: []byte(p), Source: src}
	for _, a := range addrs {
		m.Addresses = append(m.Addresses, ma.StringCast(a).Bytes())
	}
	return m
}

func completed(p peer.ID, o dialerv1.DialOutcome, reason string, d time.Duration) *dialerv1.DialCompleted {
	return &dialerv1.DialCompleted{PeerId: []byte(p), Outcome: o, Reason: reason, Duration: durationpb.New(d)}
}

func TestActorAnswersConnectedAfterTheDial(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(300*time.Millisecond, nil)))
		p := e.p
		p.Request(e.pid, dialMsg(testPeer(1), static, "/ip4/127.0.0.1/tcp/4001"))
		p.ExpectMessage(completed(testPeer(1), connected, "", 300*time.Millisecond))
		p.ExpectNoMessage(time.Minute)
		wantMetric(t, e.reg, 1, "waku_peers_dials", "outcome", "connected")
		wantMetric(t, e.reg, 1, "peermesh_dialer_dial_duration_seconds", "outcome", "connected")
		wantMetric(t, e.reg, 1, "peermesh_dialer_requests_total", "source", "static")
		wantMetric(t, e.reg, 1, "waku_node_conns_initiated", "source", "static")
	})
}

func TestActorMapsDialErrorsToOutcomes(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		refusedErr := fmt.Errorf("dial: %w", syscall.ECONNREFUSED)
		d := newFakeDialer(func(_ int, p peer.ID, _ string) (time.Duration, error) {
			if p == testPeer(1) {
				return time.Second, refusedErr
			}
			return time.Second, errors.New("no route")
		})
		e := newEnv(t, DefaultConfig(), d)
		p := e.p
		p.Request(e.pid, dialMsg(testPeer(1), px))
		p.ExpectMessage(completed(testPeer(1), refused, refusedErr.Error(), time.Second))
		p.Request(e.pid, dialMsg(testPeer(2), px))
		p.ExpectMessage(completed(testPeer(2), failed, "no route", time.Second))
	})
}

func TestActorTimesOutADialAtItsTimeout(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(time.Hour, nil)))
		p := e.p
		m := dialMsg(testPeer(1), api)
		m.Timeout = durationpb.New(2 * time.Second)
		p.Request(e.pid, m)
		got := actortest.ExpectWithin[*dialerv1.DialCompleted](p, time.Minute)
		if got.GetOutcome() != timedOut || got.GetDuration().AsDuration() != 2*time.Second {
			t.Fatalf("got %v after %v, want TIMEOUT after 2s", got.GetOutcome(), got.GetDuration().AsDuration())
		}
		// The default timeout (10 s) applies when none is given.
		p.Request(e.pid, dialMsg(testPeer(2), api))
		got = actortest.ExpectWithin[*dialerv1.DialCompleted](p, time.Minute)
		if got.GetOutcome() != timedOut || got.GetDuration().AsDuration() != 10*time.Second {
			t.Fatalf("got %v after %v, want TIMEOUT after 10s", got.GetOutcome(), got.GetDuration().AsDuration())
		}
	})
}

// TestActorRejectsBadInput: every malformed request is answered REJECTED
// with a reason naming the problem, and counted; the actor keeps working.
func TestActorRejectsBadInput(t *testing.T) {
	p2p := ma.StringCast("/ip4/127.0.0.1/tcp/1/p2p/" + testPeer(7).String()).Bytes()
	rows := []struct {
		name   string
		msg    *dialerv1.DialPeer
		reason string
		label  string
	}{
		{"empty peer id", &dialerv1.DialPeer{}, "empty peer id", "invalid_request"},
		{"peer id that is not a multihash", &dialerv1.DialPeer{PeerId: []byte{0xff, 0xff, 0x01}}, "peer id", "invalid_request"},
		{"malformed multiaddr bytes", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Addresses: [][]byte{{0xde, 0xad}}}, "address 0", "invalid_request"},
		{"address naming another peer", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Addresses: [][]byte{p2p}}, "names peer", "invalid_request"},
		{"too many addresses", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Addresses: make([][]byte, 33)}, "MaxAddresses", "invalid_request"},
		{"unknown source", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Source: 42}, "unknown source", "invalid_request"},
		{"negative timeout", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Timeout: durationpb.New(-time.Second)}, "negative timeout", "invalid_request"},
		{"timeout beyond MaxDialTimeout", &dialerv1.DialPeer{PeerId: []byte(testPeer(1)), Timeout: durationpb.New(time.Hour)}, "exceeds MaxDialTimeout", "invalid_request"},
		{"self", &dialerv1.DialPeer{PeerId: []byte(testPeer(-1))}, "dialing self", "self"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(time.Second, nil)))
				p := e.p
				p.Request(e.pid, row.msg)
				got := actortest.Expect[*dialerv1.DialCompleted](p)
				if got.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED || !strings.Contains(got.GetReason(), row.reason) {
					t.Fatalf("got %v %q, want REJECTED mentioning %q", got.GetOutcome(), got.GetReason(), row.reason)
				}
				wantMetric(t, e.reg, 1, "peermesh_dialer_rejections_total", "reason", row.label)
				wantMetric(t, e.reg, 1, "waku_peers_dials", "outcome", "rejected")
				// Still serving.
				p.Request(e.pid, dialMsg(testPeer(2), api))
				p.ExpectMessage(completed(testPeer(2), connected, "", time.Second))
				if _, total, _ := e.dialer.stats(); total != 1 {
					t.Errorf("dialer called %d times, want 1 (only the valid request)", total)
				}
			})
		})
	}
}

func TestActorAnswersAConnectedPeerAtOnce(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		d := newFakeDialer(fixed(time.Second, nil))
		d.connected[testPeer(1)] = true
		e := newEnv(t, DefaultConfig(), d)
		p := e.p
		p.Request(e.pid, dialMsg(testPeer(1), api))
		p.ExpectMessage(completed(testPeer(1), connected, "", 0))
		if _, total, _ := d.stats(); total != 0 {
			t.Fatalf("dialer called %d times for a connected peer", total)
		}
	})
}

func TestActorJoinsRequestsForThePeerInFlight(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(5*time.Second, nil)))
		first, second := e.p, actortest.NewProbe(t, e.sys)
		first.Request(e.pid, dialMsg(testPeer(1), relay))
		first.ExpectNoMessage(2 * time.Second) // the second asks while the dial runs
		second.Request(e.pid, dialMsg(testPeer(1), static))
		first.ExpectMessageWithin(time.Minute, completed(testPeer(1), connected, "", 5*time.Second))
		second.ExpectMessageWithin(time.Minute, completed(testPeer(1), connected, "", 3*time.Second))
		if calls, _, _ := e.dialer.stats(); calls[testPeer(1)] != 1 {
			t.Fatalf("peer dialed %d times, want 1", calls[testPeer(1)])
		}
	})
}

func TestActorCancelAnswersCancelledOnceAndStopsTheDial(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(time.Hour, nil)))
		p := e.p
		p.Request(e.pid, dialMsg(testPeer(1), api))
		p.ExpectNoMessage(time.Second) // the dial is running
		p.Send(e.pid, &dialerv1.CancelDial{PeerId: []byte(testPeer(1))})
		p.ExpectMessage(completed(testPeer(1), dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED, "cancelled by CancelDial", time.Second))
		p.ExpectNoMessage(2 * time.Hour) // the late report does not answer again
		if errs := e.dialer.contextErrors(); len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("dial context errors = %v, want one cancellation", errs)
		}
		wantMetric(t, e.reg, 0, "peermesh_dialer_in_flight")
	})
}

func TestActorCountsAnInvalidCancel(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(time.Second, nil)))
		p := e.p
		p.Request(e.pid, &dialerv1.CancelDial{PeerId: []byte("not a multihash")})
		p.ExpectNoMessage(time.Second)
		wantMetric(t, e.reg, 1, "peermesh_dialer_rejections_total", "reason", "invalid_cancel")
	})
}

func TestActorRejectsWhenTheQueueIsFull(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight, cfg.MaxQueued = 1, 1
		e := newEnv(t, cfg, newFakeDialer(fixed(time.Second, nil)))
		p := e.p
		for i := range 3 {
			p.Request(e.pid, dialMsg(testPeer(i), api))
		}
		rejected := actortest.Expect[*dialerv1.DialCompleted](p)
		if rejected.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED || peer.ID(rejected.GetPeerId()) != testPeer(2) ||
			!strings.Contains(rejected.GetReason(), "queue full") {
			t.Fatalf("first answer = %v, want peer 2 REJECTED for a full queue", rejected)
		}
		p.ExpectMessage(completed(testPeer(0), connected, "", time.Second))
		p.ExpectMessage(completed(testPeer(1), connected, "", 2*time.Second))
		wantMetric(t, e.reg, 1, "peermesh_dialer_rejections_total", "reason", "queue_full")
	})
}

func TestActorStatusReportsInFlightAndQueued(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 2
		e := newEnv(t, cfg, newFakeDialer(fixed(time.Second, nil)))
		p := e.p
		for i := range 5 {
			p.Send(e.pid, dialMsg(testPeer(i), px)) // no sender: no answers
		}
		p.Request(e.pid, &dialerv1.GetDialStatus{})
		p.ExpectMessage(&dialerv1.DialStatus{InFlight: 2, Queued: 3, MaxInFlight: 2, MaxQueued: 1000})
		wantMetric(t, e.reg, 3, "peermesh_dialer_queue_length")
		// Five one-second dials, two at a time, end at 3 s; requests sent
		// without a sender are never answered. The last dial ends at the very
		// instant the wait does: Wait lets the pool take its report first.
		p.ExpectNoMessage(3 * time.Second)
		synctest.Wait()
		p.Request(e.pid, &dialerv1.GetDialStatus{})
		p.ExpectMessage(&dialerv1.DialStatus{MaxInFlight: 2, MaxQueued: 1000})
	})
}

func TestActorStopCancelsEveryDialAndAnswersEveryWaiter(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 2
		e := newEnv(t, cfg, newFakeDialer(fixed(time.Hour, nil)))
		p := e.p
		for i := range 5 {
			p.Request(e.pid, dialMsg(testPeer(i), px))
		}
		p.ExpectNoMessage(time.Second) // two dials running, three queued
		e.sys.Root.Stop(e.pid)
		seen := map[peer.ID]bool{}
		for _, got := range actortest.ReceiveN[*dialerv1.DialCompleted](p, 5, time.Minute) {
			if got.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED || got.GetReason() != "dial pool stopped" {
				t.Fatalf("got %v, want CANCELLED by the stop", got)
			}
			seen[peer.ID(got.GetPeerId())] = true
		}
		if len(seen) != 5 {
			t.Fatalf("answered %d distinct peers, want 5", len(seen))
		}
		p.ExpectNoMessage(2 * time.Hour)
		if errs := e.dialer.contextErrors(); len(errs) != 2 {
			t.Fatalf("%d running dials saw their context cancelled, want 2", len(errs))
		}
	})
}

// panicDialer panics in Dial: the pool must survive and answer FAILED.
type panicDialer struct{ *fakeDialer }

func (panicDialer) Dial(context.Context, peer.ID, []ma.Multiaddr, string) error {
	panic("boom")
}

func TestActorSurvivesAPanickingDialer(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: panicDialer{newFakeDialer(fixed(0, nil))}}))
		p := actortest.NewProbe(t, sys)
		p.Request(pid, dialMsg(testPeer(1), api))
		p.ExpectMessage(completed(testPeer(1), failed, "dialer panicked: boom", 0))
	})
}

func TestActorWithABadConfigRejectsEveryRequest(t *testing.T) {
	badLimit := DefaultConfig()
	badLimit.MaxInFlight = 0
	rows := []struct {
		name   string
		cfg    Config
		dialer Dialer
		want   string
	}{
		{"invalid config", badLimit, newFakeDialer(fixed(0, nil)), "MaxInFlight"},
		{"no dialer", DefaultConfig(), nil, "Dialer is nil"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			bubble.Test(t, func(t *testing.T) {
				sys := actortest.NewSystem(t)
				reg := prometheus.NewRegistry()
				pid := sys.Root.Spawn(Props(row.cfg, Deps{Dialer: row.dialer, Registerer: reg}))
				p := actortest.NewProbe(t, sys)
				p.Request(pid, dialMsg(testPeer(1), api))
				got := actortest.Expect[*dialerv1.DialCompleted](p)
				if got.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED || !strings.Contains(got.GetReason(), row.want) {
					t.Fatalf("got %v, want REJECTED naming %q", got, row.want)
				}
				wantMetric(t, reg, 1, "peermesh_dialer_rejections_total", "reason", "misconfigured")
				p.Request(pid, &dialerv1.GetDialStatus{})
				actortest.Expect[*dialerv1.DialStatus](p)
			})
		})
	}
}

// TestActorWorksWhenItsMetricsCannotRegister: a name clash on the registry
// is logged, and the pool dials as usual.
func TestActorWorksWhenItsMetricsCannotRegister(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "waku_peers_dials", Help: "someone else's"}))
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: newFakeDialer(fixed(time.Second, nil)), Registerer: reg}))
		p := actortest.NewProbe(t, sys)
		p.Request(pid, dialMsg(testPeer(1), api))
		p.ExpectMessage(completed(testPeer(1), connected, "", time.Second))
		wantMetric(t, reg, 1, "peermesh_dialer_requests_total", "source", "api")
	})
}

// TestActorSendsOnlyProtobuf taps the actor through a busy run (answers,
// joins, rejections, cancels, status) and checks every message it sent.
func TestActorSendsOnlyProtobuf(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight, cfg.MaxQueued = 2, 2
		e := newEnv(t, cfg, newFakeDialer(randomPlan(1, time.Second, nil, errors.New("x"))))
		p := e.p
		for i := range 6 {
			p.Request(e.pid, dialMsg(testPeer(i%5), px))
		}
		p.Send(e.pid, &dialerv1.CancelDial{PeerId: []byte(testPeer(3))})
		p.Request(e.pid, &dialerv1.DialPeer{})
		p.Request(e.pid, &dialerv1.GetDialStatus{})
		actortest.ReceiveN[proto.Message](p, 8, time.Minute)
		p.ExpectNoMessage(time.Minute)
		sent := e.tap.Sent()
		if len(sent) != 8 {
			t.Fatalf("tap saw %d sends, want 8", len(sent))
		}
		for _, s := range sent {
			switch s.Message.(type) {
			case *dialerv1.DialCompleted, *dialerv1.DialStatus:
			default:
				t.Errorf("actor sent %T, want only DialCompleted or DialStatus", s.Message)
			}
		}
		if finished := actortest.ReceivedOf[*dialerv1.DialFinished](e.tap); len(finished) == 0 {
			t.Error("dial goroutines did not report with DialFinished messages")
		}
	})
}

// TestActorNeverExceedsMaxInFlight is the proof of the cap: 1,000 requests
// with random latency and outcomes; the dialer never sees more than 10 dials
// at once, every request gets exactly one answer, none is lost.
func TestActorNeverExceedsMaxInFlight(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		const n = 1000
		d := newFakeDialer(randomPlan(7, 3*time.Second, nil, nil, errors.New("failed"),
			fmt.Errorf("x: %w", syscall.ECONNREFUSED)))
		e := newEnv(t, DefaultConfig(), d)
		p := e.p
		sources := []dialerv1.DialSource{static, cache, service, relay, px, api}
		for i := range n {
			p.Request(e.pid, dialMsg(testPeer(i), sources[i%len(sources)]))
		}
		answers := map[peer.ID]int{}
		for _, got := range actortest.ReceiveN[*dialerv1.DialCompleted](p, n, time.Hour) {
			answers[peer.ID(got.GetPeerId())]++
			switch got.GetOutcome() {
			case connected, refused, failed:
			default:
				t.Errorf("unexpected outcome %v for %s", got.GetOutcome(), peer.ID(got.GetPeerId()))
			}
		}
		p.ExpectNoMessage(time.Hour)
		for i := range n {
			if answers[testPeer(i)] != 1 {
				t.Fatalf("peer %d answered %d times", i, answers[testPeer(i)])
			}
		}
		_, total, maxInFlight := d.stats()
		if maxInFlight > 10 {
			t.Fatalf("observed %d dials in flight, the cap is 10", maxInFlight)
		}
		if maxInFlight != 10 || total != n {
			t.Fatalf("max in flight %d, dials %d: the pool did not use its 10 slots for %d dials", maxInFlight, total, n)
		}
	})
}

// TestActorIgnoresAReportOfAnotherIncarnation: a DialFinished that outlived
// a restart carries the old incarnation and must neither answer nor free a
// slot of the new one.
func TestActorIgnoresAReportOfAnotherIncarnation(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		e := newEnv(t, DefaultConfig(), newFakeDialer(fixed(time.Hour, nil)))
		p := e.p
		p.Request(e.pid, dialMsg(testPeer(1), api))
		synctest.Wait()
		p.Send(e.pid, &dialerv1.DialFinished{DialId: 1, Incarnation: 0, Outcome: connected})
		p.ExpectNoMessage(5 * time.Second) // before the dial's own 10 s timeout
		p.Request(e.pid, &dialerv1.GetDialStatus{})
		if st := actortest.Expect[*dialerv1.DialStatus](p); st.GetInFlight() != 1 {
			t.Fatalf("in flight %d after a stale report, want 1", st.GetInFlight())
		}
	})
}

// TestPropsOnOneRegistryShareTheSeries: two pools (or one pool's props used
// twice) on the same registry do not fail registration; they share series.
func TestPropsOnOneRegistryShareTheSeries(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		reg := prometheus.NewRegistry()
		d := newFakeDialer(fixed(time.Second, nil))
		a := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: d, Registerer: reg}))
		b := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: d, Registerer: reg}))
		p := actortest.NewProbe(t, sys)
		p.Request(a, dialMsg(testPeer(1), api))
		p.Request(b, dialMsg(testPeer(2), api))
		actortest.ReceiveN[*dialerv1.DialCompleted](p, 2, time.Minute)
		wantMetric(t, reg, 2, "waku_peers_dials", "outcome", "connected")
	})
}

// TestActorServesStaticBeforeQueuedPeerExchange checks the adapter keeps
// the core's priorities: with one slot, a static request that arrives after
// three px requests runs right after the dial already running.
func TestActorServesStaticBeforeQueuedPeerExchange(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 1
		e := newEnv(t, cfg, newFakeDialer(fixed(time.Second, nil)))
		for i := range 3 {
			e.p.Request(e.pid, dialMsg(testPeer(i), px))
		}
		e.p.Request(e.pid, dialMsg(testPeer(9), static))
		var order []peer.ID
		for _, got := range actortest.ReceiveN[*dialerv1.DialCompleted](e.p, 4, time.Minute) {
			order = append(order, peer.ID(got.GetPeerId()))
		}
		want := []peer.ID{testPeer(0), testPeer(9), testPeer(1), testPeer(2)}
		if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Fatalf("answer order %v, want %v", order, want)
		}
	})
}

// connPanicDialer panics in IsConnected, which the actor calls itself.
type connPanicDialer struct{ *fakeDialer }

func (connPanicDialer) IsConnected(peer.ID) bool { panic("boom") }

func TestActorSurvivesAPanickingIsConnected(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(Props(DefaultConfig(), Deps{Dialer: connPanicDialer{newFakeDialer(fixed(time.Second, nil))}}))
		p.Request(pid, dialMsg(testPeer(1), api))
		p.ExpectMessage(completed(testPeer(1), connected, "", time.Second))
	})
}

// TestActorRestartCancelsEverythingAndServesAgain: a restart (after a
// crash) answers every waiter CANCELLED, cancels the running dials, and the
// new incarnation serves new requests with a fresh pool.
func TestActorRestartCancelsEverythingAndServesAgain(t *testing.T) {
	bubble.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxInFlight = 1
		var slow atomic.Bool
		slow.Store(true)
		d := newFakeDialer(func(int, peer.ID, string) (time.Duration, error) {
			if slow.Load() {
				return time.Hour, nil
			}
			return time.Second, nil
		})
		e := newEnv(t, cfg, d)
		e.p.Request(e.pid, dialMsg(testPeer(1), api))
		e.p.Request(e.pid, dialMsg(testPeer(2), api))
		synctest.Wait()
		proc, _ := e.sys.ProcessRegistry.Get(e.pid)
		proc.SendSystemMessage(e.pid, &actor.Restart{})
		for _, got := range actortest.ReceiveN[*dialerv1.DialCompleted](e.p, 2, time.Minute) {
			if got.GetOutcome() != dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED || got.GetReason() != "dial pool restarting" {
				t.Fatalf("got %v, want CANCELLED by the restart", got)
			}
		}
		synctest.Wait()
		if errs := d.contextErrors(); len(errs) != 1 {
			t.Fatalf("%d running dials cancelled, want 1", len(errs))
		}
		slow.Store(false)
		e.p.Request(e.pid, dialMsg(testPeer(3), api))
		e.p.ExpectMessageWithin(time.Minute, completed(testPeer(3), connected, "", time.Second))
		e.p.Request(e.pid, &dialerv1.GetDialStatus{})
		e.p.ExpectMessage(&dialerv1.DialStatus{MaxInFlight: 1, MaxQueued: 1000})
	})
}
