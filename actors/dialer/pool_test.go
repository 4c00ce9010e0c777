package dialer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// The core works on any comparable peer.ID; short strings keep rows readable.
const selfID = peer.ID("self")

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func smallConfig() Config {
	c := DefaultConfig()
	c.MaxInFlight, c.MaxQueued, c.MaxWaitersPerDial, c.MaxAddresses = 2, 3, 2, 3
	return c
}

// step is one call of the core at t0+at.
type step struct {
	at time.Duration
	do func(p *Pool[string], now time.Time) Effects[string]
}

func req(id string, src dialerv1.DialSource, proto string, addrs ...string) Request {
	r := Request{Peer: peer.ID(id), Source: src, Protocol: proto, Timeout: 10 * time.Second}
	for _, a := range addrs {
		r.Addrs = append(r.Addrs, ma.StringCast(a))
	}
	return r
}

const (
	static  = dialerv1.DialSource_DIAL_SOURCE_STATIC
	api     = dialerv1.DialSource_DIAL_SOURCE_API
	cache   = dialerv1.DialSource_DIAL_SOURCE_CACHE
	service = dialerv1.DialSource_DIAL_SOURCE_SERVICE
	relay   = dialerv1.DialSource_DIAL_SOURCE_RELAY
	px      = dialerv1.DialSource_DIAL_SOURCE_PX

	connected = dialerv1.DialOutcome_DIAL_OUTCOME_CONNECTED
	timedOut  = dialerv1.DialOutcome_DIAL_OUTCOME_TIMEOUT
	refused   = dialerv1.DialOutcome_DIAL_OUTCOME_REFUSED
	failed    = dialerv1.DialOutcome_DIAL_OUTCOME_FAILED
)

func enqAt(at time.Duration, to string, r Request) step {
	return step{at, func(p *Pool[string], now time.Time) Effects[string] { return p.Enqueue(now, to, r, false) }}
}

func enq(to, id string, src dialerv1.DialSource) step { return enqAt(0, to, req(id, src, "")) }

func enqConnected(to string, r Request) step {
	return step{0, func(p *Pool[string], now time.Time) Effects[string] { return p.Enqueue(now, to, r, true) }}
}

func doneAt(at time.Duration, id uint64, o dialerv1.DialOutcome) step {
	return step{at, func(p *Pool[string], now time.Time) Effects[string] {
		return p.OnDialFinished(now, id, o, "")
	}}
}

func done(id uint64, o dialerv1.DialOutcome) step { return doneAt(0, id, o) }

func cancelPeer(id string) step {
	return step{0, func(p *Pool[string], now time.Time) Effects[string] { return p.Cancel(now, peer.ID(id)) }}
}

func stopPool() step {
	return step{0, func(p *Pool[string], now time.Time) Effects[string] { return p.Stop(now, "stopped") }}
}

// got renders effects as short strings so rows compare with cmp.Diff.
type got struct {
	Starts, Answers, Ended []string
	Aborts                 []uint64
	InFlight, Queued       int
}

func outcomeName(o dialerv1.DialOutcome) string {
	return strings.TrimPrefix(o.String(), "DIAL_OUTCOME_")
}

func (g *got) add(e Effects[string]) {
	for _, s := range e.Start {
		addrs := make([]string, len(s.Addrs))
		for i, a := range s.Addrs {
			addrs[i] = a.String()
		}
		g.Starts = append(g.Starts, strings.TrimSpace(fmt.Sprintf("#%d %s%s %s", s.ID, string(s.Peer), s.Protocol, strings.Join(addrs, ","))))
	}
	for _, a := range e.Answer {
		o := outcomeName(a.Outcome)
		if a.Rejected != RejectNone {
			o += "/" + a.Rejected.String()
		}
		g.Answers = append(g.Answers, fmt.Sprintf("%s %s%s %s %s", a.To, string(a.Peer), a.Protocol, o, a.Duration))
	}
	for _, e := range e.Ended {
		s := fmt.Sprintf("%s %s", string(e.Peer), outcomeName(e.Outcome))
		if e.Ran {
			s += " ran " + e.Took.String()
		}
		g.Ended = append(g.Ended, s)
	}
	g.Aborts = append(g.Aborts, e.Abort...)
}

// TestPoolRules has one row per rule of Pool.Enqueue, OnDialFinished,
// Cancel and Stop. setup runs first; only the effects of act are checked.
func TestPoolRules(t *testing.T) {
	rows := []struct {
		name       string
		setup, act []step
		want       got
	}{
		{
			name: "dialing self is rejected",
			act:  []step{enq("w", "self", api)},
			want: got{Answers: []string{"w self REJECTED/self 0s"}},
		},
		{
			name: "a connected peer is answered at once without a dial",
			act:  []step{enqConnected("w", req("a", api, ""))},
			want: got{Answers: []string{"w a CONNECTED 0s"}},
		},
		{
			name: "a connected peer is still dialed when a protocol must be checked",
			act:  []step{enqConnected("w", req("a", api, "/p"))},
			want: got{Starts: []string{"#1 a/p"}, InFlight: 1},
		},
		{
			name: "with a free slot the dial starts",
			act:  []step{enqAt(0, "w", req("a", px, "", "/ip4/127.0.0.1/tcp/1"))},
			want: got{Starts: []string{"#1 a /ip4/127.0.0.1/tcp/1"}, InFlight: 1},
		},
		{
			name:  "beyond MaxInFlight a dial waits in the queue",
			setup: []step{enq("w", "a", api), enq("w", "b", api)},
			act:   []step{enq("w", "c", api)},
			want:  got{InFlight: 2, Queued: 1},
		},
		{
			name: "a full queue rejects at once",
			setup: []step{enq("w", "a", api), enq("w", "b", api),
				enq("w", "c", api), enq("w", "d", api), enq("w", "e", api)},
			act:  []step{enq("w", "f", static)},
			want: got{Answers: []string{"w f REJECTED/queue_full 0s"}, InFlight: 2, Queued: 3},
		},
		{
			name:  "a request for a peer in flight joins it and every requester is answered",
			setup: []step{enqAt(0, "w1", req("a", api, "")), enqAt(time.Second, "w2", req("a", px, ""))},
			act:   []step{doneAt(3*time.Second, 1, connected)},
			want: got{Answers: []string{"w1 a CONNECTED 3s", "w2 a CONNECTED 2s"},
				Ended: []string{"a CONNECTED ran 3s"}},
		},
		{
			name: "joining a queued dial takes no queue slot even when the queue is full",
			setup: []step{enq("w", "a", api), enq("w", "b", api),
				enq("w", "c", api), enq("w", "d", api), enq("w", "e", api)},
			act:  []step{enq("w2", "c", api)},
			want: got{InFlight: 2, Queued: 3},
		},
		{
			name:  "beyond MaxWaitersPerDial a joiner is rejected",
			setup: []step{enq("w1", "a", api), enq("w2", "a", api)},
			act:   []step{enq("w3", "a", api)},
			want:  got{Answers: []string{"w3 a REJECTED/too_many_waiters 0s"}, InFlight: 1},
		},
		{
			name:  "the same peer with another protocol is another dial",
			setup: []step{enq("w", "a", api)},
			act:   []step{enqAt(0, "w", req("a", api, "/store"))},
			want:  got{Starts: []string{"#2 a/store"}, InFlight: 2},
		},
		{
			name:  "a finished dial gives its slot to the oldest queued dial",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w", "c", px), enq("w", "d", px)},
			act:   []step{done(1, refused)},
			want: got{Starts: []string{"#3 c"}, Answers: []string{"w a REFUSED 0s"},
				Ended: []string{"a REFUSED ran 0s"}, InFlight: 2, Queued: 1},
		},
		{
			name:  "static runs before px whatever the arrival order",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w", "c", px), enq("w", "d", static)},
			act:   []step{done(1, connected)},
			want: got{Starts: []string{"#3 d"}, Answers: []string{"w a CONNECTED 0s"},
				Ended: []string{"a CONNECTED ran 0s"}, InFlight: 2, Queued: 1},
		},
		{
			name:  "api ranks with static, FIFO between them",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w", "c", static), enq("w", "d", api)},
			act:   []step{done(1, connected), done(2, connected)},
			want: got{Starts: []string{"#3 c", "#4 d"}, Answers: []string{"w a CONNECTED 0s", "w b CONNECTED 0s"},
				Ended: []string{"a CONNECTED ran 0s", "b CONNECTED ran 0s"}, InFlight: 2},
		},
		{
			name: "cache before service before relay before px",
			setup: []step{
				step{0, func(p *Pool[string], now time.Time) Effects[string] {
					p.cfg.MaxQueued = 4
					return p.Enqueue(now, "w", req("a", api, ""), false)
				}},
				enq("w", "b", api), enq("w", "p", px), enq("w", "r", relay), enq("w", "s", service), enq("w", "c", cache)},
			act: []step{done(1, failed), done(2, failed), done(3, failed), done(4, failed)},
			want: got{Starts: []string{"#3 c", "#4 s", "#5 r", "#6 p"},
				Answers:  []string{"w a FAILED 0s", "w b FAILED 0s", "w c FAILED 0s", "w s FAILED 0s"},
				Ended:    []string{"a FAILED ran 0s", "b FAILED ran 0s", "c FAILED ran 0s", "s FAILED ran 0s"},
				InFlight: 2},
		},
		{
			name:  "joining a queued dial with a higher priority moves it up",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w", "r", relay), enq("w", "c", px), enq("w2", "c", static)},
			act:   []step{done(1, connected)},
			want: got{Starts: []string{"#3 c"}, Answers: []string{"w a CONNECTED 0s"},
				Ended: []string{"a CONNECTED ran 0s"}, InFlight: 2, Queued: 1},
		},
		{
			name: "joining a queued dial adds its new addresses, up to MaxAddresses",
			setup: []step{enq("w", "a", api), enq("w", "b", api),
				enqAt(0, "w", req("c", px, "", "/ip4/10.0.0.1/tcp/1")),
				enqAt(0, "w2", req("c", px, "", "/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/1", "/ip4/10.0.0.3/tcp/1", "/ip4/10.0.0.4/tcp/1"))},
			act: []step{done(1, connected)},
			want: got{Starts: []string{"#3 c /ip4/10.0.0.1/tcp/1,/ip4/10.0.0.2/tcp/1,/ip4/10.0.0.3/tcp/1"},
				Answers: []string{"w a CONNECTED 0s"}, Ended: []string{"a CONNECTED ran 0s"}, InFlight: 2},
		},
		{
			name:  "cancelling a queued dial answers CANCELLED and frees its queue slot",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w1", "c", px), enq("w2", "c", px)},
			act:   []step{cancelPeer("c")},
			want: got{Answers: []string{"w1 c CANCELLED 0s", "w2 c CANCELLED 0s"},
				Ended: []string{"c CANCELLED"}, InFlight: 2},
		},
		{
			name:  "cancelling a running dial aborts it, answers CANCELLED and keeps its slot until it reports",
			setup: []step{enq("w", "a", api)},
			act:   []step{{2 * time.Second, func(p *Pool[string], now time.Time) Effects[string] { return p.Cancel(now, "a") }}},
			want: got{Aborts: []uint64{1}, Answers: []string{"w a CANCELLED 2s"},
				Ended: []string{"a CANCELLED ran 2s"}, InFlight: 1},
		},
		{
			name:  "cancelling a peer cancels its dials of every protocol",
			setup: []step{enq("w", "a", api), enqAt(0, "w", req("a", api, "/p")), enq("w", "a", px)},
			act:   []step{cancelPeer("a")},
			want: got{Aborts: []uint64{2, 1}, Answers: []string{"w a/p CANCELLED 0s", "w a CANCELLED 0s", "w a CANCELLED 0s"},
				Ended: []string{"a CANCELLED ran 0s", "a CANCELLED ran 0s"}, InFlight: 2},
		},
		{
			name:  "when one of a peer's dials ends, its others stay joinable",
			setup: []step{enq("w", "a", api), enqAt(0, "w", req("a", api, "/p"))},
			act:   []step{done(1, connected), enqAt(0, "w2", req("a", api, "/p")), enq("w3", "a", api)},
			want: got{Starts: []string{"#3 a"}, Answers: []string{"w a CONNECTED 0s"},
				Ended: []string{"a CONNECTED ran 0s"}, InFlight: 2},
		},
		{
			name:  "cancelling a peer with no dial does nothing",
			setup: []step{enq("w", "a", api)},
			act:   []step{cancelPeer("b")},
			want:  got{InFlight: 1},
		},
		{
			name:  "the late report of a cancelled dial answers nobody but frees the slot",
			setup: []step{enq("w", "a", api), enq("w", "b", api), enq("w", "c", api), cancelPeer("a")},
			act:   []step{done(1, failed)},
			want:  got{Starts: []string{"#3 c"}, InFlight: 2},
		},
		{
			name:  "after a cancel a new request for the peer is a new dial",
			setup: []step{enq("w", "a", api), cancelPeer("a")},
			act:   []step{enq("w2", "a", api)},
			want:  got{Starts: []string{"#2 a"}, InFlight: 2},
		},
		{
			name:  "a report for an unknown dial is ignored",
			setup: []step{enq("w", "a", api)},
			act:   []step{done(99, connected)},
			want:  got{InFlight: 1},
		},
		{
			name:  "a repeated report is ignored",
			setup: []step{enq("w", "a", api), done(1, connected)},
			act:   []step{done(1, failed)},
		},
		{
			name:  "a timeout reaches every requester",
			setup: []step{enq("w", "a", api)},
			act:   []step{doneAt(10*time.Second, 1, timedOut)},
			want:  got{Answers: []string{"w a TIMEOUT 10s"}, Ended: []string{"a TIMEOUT ran 10s"}},
		},
		{
			name:  "a report without a dial outcome counts as FAILED",
			setup: []step{enq("w", "a", api)},
			act:   []step{done(1, dialerv1.DialOutcome_DIAL_OUTCOME_REJECTED)},
			want:  got{Answers: []string{"w a FAILED 0s"}, Ended: []string{"a FAILED ran 0s"}},
		},
		{
			name:  "stop answers running dials in start order, then queued ones in queue order",
			setup: []step{enq("w", "b", api), enq("w", "a", api), enq("w", "p", px), enq("w", "s", static)},
			act:   []step{stopPool()},
			want: got{Aborts: []uint64{1, 2},
				Answers:  []string{"w b CANCELLED 0s", "w a CANCELLED 0s", "w s CANCELLED 0s", "w p CANCELLED 0s"},
				Ended:    []string{"b CANCELLED ran 0s", "a CANCELLED ran 0s", "s CANCELLED", "p CANCELLED"},
				InFlight: 2},
		},
		{
			name:  "after stop the aborted dials still free their slots when they report",
			setup: []step{enq("w", "a", api), stopPool()},
			act:   []step{done(1, dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED)},
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			p := NewPool[string](smallConfig(), selfID)
			for _, s := range row.setup {
				s.do(p, t0.Add(s.at))
			}
			var g got
			for _, s := range row.act {
				g.add(s.do(p, t0.Add(s.at)))
			}
			g.InFlight, g.Queued = p.InFlight(), p.Queued()
			if diff := cmp.Diff(row.want, g); diff != "" {
				t.Errorf("effects (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPoolInvariants drives the core with a long random but seeded sequence
// and checks after every call: never more than MaxInFlight running, never
// more than MaxQueued waiting, and every admitted requester answered exactly
// once by the end.
func TestPoolInvariants(t *testing.T) {
	cfg := smallConfig()
	cfg.MaxInFlight, cfg.MaxQueued, cfg.MaxWaitersPerDial = 3, 8, 4
	p := NewPool[string](cfg, selfID)
	answered := map[string]int{}
	asked := 0
	var running []uint64
	now := t0
	check := func(e Effects[string]) {
		for _, a := range e.Answer {
			answered[a.To]++
		}
		for _, s := range e.Start {
			running = append(running, s.ID)
		}
		if p.InFlight() > cfg.MaxInFlight || p.Queued() > cfg.MaxQueued {
			t.Fatalf("bounds broken: in flight %d, queued %d", p.InFlight(), p.Queued())
		}
	}
	seed := uint64(42)
	next := func(n int) int { // xorshift: deterministic, no global randomness
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return int(seed % uint64(n))
	}
	for i := range 5000 {
		now = now.Add(time.Millisecond)
		switch op := next(10); {
		case op < 6:
			asked++
			to := fmt.Sprintf("w%d", i)
			check(p.Enqueue(now, to, req(fmt.Sprintf("p%d", next(20)), dialerv1.DialSource(1+next(6)), ""), next(10) == 0))
		case op < 9 && len(running) > 0:
			k := next(len(running))
			id := running[k]
			running = slices.Delete(running, k, k+1)
			check(p.OnDialFinished(now, id, dialerv1.DialOutcome(1+next(4)), ""))
		case op == 9:
			check(p.Cancel(now, peer.ID(fmt.Sprintf("p%d", next(20)))))
		}
	}
	check(p.Stop(now, "end"))
	for len(running) > 0 {
		id := running[0]
		running = running[1:]
		check(p.OnDialFinished(now, id, connected, ""))
	}
	if len(answered) != asked {
		t.Fatalf("%d requesters asked, %d answered", asked, len(answered))
	}
	for to, n := range answered {
		if n != 1 {
			t.Fatalf("%s answered %d times", to, n)
		}
	}
	if p.InFlight() != 0 || p.Queued() != 0 || len(p.live) != 0 {
		t.Fatalf("pool not empty at the end: in flight %d, queued %d, live %d", p.InFlight(), p.Queued(), len(p.live))
	}
}
