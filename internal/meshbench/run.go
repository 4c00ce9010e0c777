package meshbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
)

// Impl is a gossipsub implementation under test.
type Impl interface {
	Name() string
	// Start runs the implementation on hosts, node i joined and subscribed
	// to cfg.Topics[i], and calls deliver(node, data) for every message a
	// node receives (including its own, which the harness ignores). deliver
	// is safe for concurrent use.
	Start(ctx context.Context, hosts []host.Host, cfg ImplConfig, deliver func(node int, data []byte)) (Network, error)
}

// ImplConfig is what the scenario prescribes to every implementation.
type ImplConfig struct {
	// Topics[i] lists the topics node i joins and subscribes to.
	Topics    [][]string
	Sign      bool // StrictSign with from||seqno ids; otherwise StrictNoSign with sha256(data) ids
	D         int
	Dlo       int
	Dhi       int
	Heartbeat time.Duration
	Profile   string // peermesh only: "waku" or "libp2p"
	// PublishWindow (peermesh only) is how many publishes per node may
	// await their Published answer before Publish blocks, as an
	// application calling Node.Publish from that many goroutines would
	// see. 0: Publish never waits (fire and forget). See
	// DefaultPublishWindow.
	PublishWindow int
}

// Network is a running implementation.
type Network interface {
	Publish(ctx context.Context, node int, topic string, data []byte) error
	// MeshSizes returns each node's mesh size in topic (0 for a node that
	// has not joined it).
	MeshSizes(ctx context.Context, topic string) ([]int, error)
	// Drops returns the sends the implementation counted as dropped so far
	// (-1 if it cannot tell).
	Drops() int64
	Close() error
}

// DropBreakdowner is implemented by networks that can tell their drops
// apart: by counter and label (e.g. `libp2p_pubsub_queue_expired_total{priority="PRIORITY_FORWARD"}`),
// so a row with drops says which bound shed the work.
type DropBreakdowner interface {
	DropsBy() map[string]int64
}

// QueueDepther is implemented by networks that can tell how much work waits
// in their queues. The harness samples it through the load and the drain, so
// a latency figure comes with the backlog that explains it.
type QueueDepther interface {
	QueueDepth() QueueDepth
}

// QueueDepth is one sample of the work waiting in a network's queues.
type QueueDepth struct {
	// Bytes held in outbound queues (all nodes).
	Bytes int64 `json:"bytes"`
	// Messages waiting in actor mailboxes and inbound backlogs (all nodes).
	Messages int64 `json:"messages"`
}

// QueueSample is a QueueDepth at a time since the load started.
type QueueSample struct {
	AtMs float64 `json:"at_ms"`
	QueueDepth
}

// queueSampleEvery is the queue-depth sampling period: fine enough to see a
// backlog build within a 10 s load, coarse enough to cost nothing.
const queueSampleEvery = 250 * time.Millisecond

// Params are the M1 knobs; DefaultParams follows BENCHMARKS.md.
type Params struct {
	N           int
	Degree      int
	Seed        int64
	Rates       []int
	Duration    time.Duration
	Drain       time.Duration
	Warmup      time.Duration
	MinMesh     int
	PayloadSize int
	Impl        ImplConfig
	Log         *slog.Logger
	// HeapProfile, when set, names the file (suffixed ".<variant>.<rate>")
	// that receives a heap profile taken with the heap sample, half way
	// through the load: what the heap figure is made of.
	HeapProfile string
	// Trace, when set, names the file (suffixed ".<variant>.<rate>") that
	// receives a runtime/trace of TraceWindow starting half way through the
	// load: where messages wait (scheduling, blocking, GC), which a CPU
	// profile cannot show.
	Trace       string
	TraceWindow time.Duration
	// Contend is recorded in every row: the busy threads of the CPU burner
	// the caller started for the run (Main's -contend).
	Contend int
}

// DefaultParams returns M1 as specified for one variant.
func DefaultParams(sign bool) Params {
	return Params{
		N: 24, Degree: 6, Seed: 1,
		Rates:    []int{100, 250, 500, 1000, 2000, 4000},
		Duration: 10 * time.Second, Drain: 5 * time.Second, Warmup: 15 * time.Second,
		MinMesh: 5, PayloadSize: 1024,
		Impl: ImplConfig{Sign: sign, D: 6, Dlo: 5, Dhi: 12, Heartbeat: time.Second, Profile: "libp2p",
			PublishWindow: DefaultPublishWindow},
		Log: slog.Default(),
	}
}

// DefaultPublishWindow matches go-libp2p-pubsub's Publish, which hands
// every message to its node's event loop through an unbuffered channel
// (Topic.validate sends a closure on PubSub.eval, v0.16.0) before it
// returns: a publish call waits until the node took the previous one in,
// as Node.Publish waits for its Published answer (ADR 0030). The reference
// has one such call in flight in the whole harness; peermesh one per node.
// Until ADR 0030 this was 32, read from the reference's sendMsg queue,
// which comes after that rendezvous and rarely fills.
const DefaultPublishWindow = 1

// RateResult is one row of the M1 table.
type RateResult struct {
	Impl        string  `json:"impl"`
	Variant     string  `json:"variant"`
	Rate        int     `json:"rate"`
	Published   int     `json:"published"`
	DeliveryPct float64 `json:"delivery_pct"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// OpenP50ms and OpenP99ms are the latencies from each message's
	// scheduled publish time (start + i/R) rather than from its Publish
	// call: where Publish blocks (go-libp2p-pubsub's does when its event
	// loop is behind), the publisher falls behind the rate and the call-time
	// latencies leave that wait out. LoadSeconds is how long publishing
	// the load took (the nominal Duration when the publisher kept up) and
	// PublishLagMaxMs how late the latest Publish call began.
	OpenP50ms            float64 `json:"open_p50_ms"`
	OpenP99ms            float64 `json:"open_p99_ms"`
	LoadSeconds          float64 `json:"load_s"`
	PublishLagMaxMs      float64 `json:"publish_lag_max_ms"`
	CPUPerDeliveryUs     float64 `json:"cpu_us_per_delivery"`
	WireBytesPerDelivery float64 `json:"wire_bytes_per_delivery"`
	HeapMiBPerNode       float64 `json:"heap_mib_per_node"`
	Duplicates           int64   `json:"duplicates"`
	Drops                int64   `json:"drops"`
	// DropsBy splits Drops by counter and label (DropBreakdowner; only the
	// non-zero ones).
	DropsBy       map[string]int64 `json:"drops_by,omitempty"`
	WarmupSeconds float64          `json:"warmup_s"`
	// Contend is the number of busy threads of the CPU-burner process that
	// ran beside the network (0: none).
	Contend int `json:"contend"`
	// PublishWindow is the publishes per node that may await their answer
	// before Publish blocks (ImplConfig.PublishWindow; go-libp2p-pubsub's
	// is always DefaultPublishWindow: one rendezvous with its event loop
	// per call).
	PublishWindow int `json:"publish_window"`
	// PayloadBytes is each message's data size (Params.PayloadSize).
	PayloadBytes int `json:"payload_bytes"`
	// LoadAvg1 is the 1-minute load average at the end of the measured
	// window (-1 where the system does not tell).
	LoadAvg1 float64 `json:"load_avg_1m"`
	// MaxQueueBytes and MaxQueueMessages are the largest queue-depth samples
	// of the window; -1 when the implementation does not report them.
	MaxQueueBytes    int64         `json:"max_queue_bytes"`
	MaxQueueMessages int64         `json:"max_queue_messages"`
	QueueDepth       []QueueSample `json:"queue_depth,omitempty"`
}

// Sustained reports whether the row meets M1's sustained-rate criterion.
func (r RateResult) Sustained() bool { return r.DeliveryPct >= 99.9 && r.P99ms <= 1000 }

// Variant names the signing variant of a config.
func (c ImplConfig) Variant() string {
	if c.Sign {
		return "sign"
	}
	return "nosign"
}

// SustainedRate is the highest rate of rows that meets the criterion, 0 if
// none does.
func SustainedRate(rows []RateResult) int {
	best := 0
	for _, r := range rows {
		if r.Sustained() && r.Rate > best {
			best = r.Rate
		}
	}
	return best
}

// RunM1 runs every rate of p on a fresh network each and returns a row per
// rate.
func RunM1(ctx context.Context, impl Impl, p Params) ([]RateResult, error) {
	var rows []RateResult
	for _, rate := range p.Rates {
		row, err := runRate(ctx, impl, p, rate)
		if err != nil {
			return rows, fmt.Errorf("%s %s at %d msg/s: %w", impl.Name(), p.Impl.Variant(), rate, err)
		}
		p.Log.Info("rate done", "impl", row.Impl, "variant", row.Variant, "rate", rate,
			"delivery_pct", row.DeliveryPct, "p99_ms", row.P99ms, "cpu_us", row.CPUPerDeliveryUs)
		rows = append(rows, row)
	}
	return rows, nil
}

// M1Topic is the one topic of M1.
const M1Topic = "meshbench"

func runRate(ctx context.Context, impl Impl, p Params, rate int) (RateResult, error) {
	p.Impl.Topics = make([][]string, p.N)
	for i := range p.Impl.Topics {
		p.Impl.Topics[i] = []string{M1Topic}
	}
	rec := NewRecorder(p.N, p.N*rate*int(p.Duration/time.Second+1))
	env, err := startNetwork(ctx, impl, p, rec)
	if err != nil {
		return RateResult{}, err
	}
	defer env.close()
	warm, err := warmUp(ctx, env.net, p)
	if err != nil {
		return RateResult{}, err
	}
	row := env.measureLoad(ctx, p, rate, rec, func(rng *rand.Rand) (int, string, []bool) {
		return rng.Intn(p.N), M1Topic, nil
	})
	row.Impl, row.Variant, row.WarmupSeconds = impl.Name(), p.Impl.Variant(), warm.Seconds()
	return row, nil
}

// env is a running network on fresh hosts.
type env struct {
	hosts []host.Host
	bw    *metrics.BandwidthCounter
	net   Network
	edges []Edge
}

func startNetwork(ctx context.Context, impl Impl, p Params, rec *Recorder) (*env, error) {
	edges, err := Topology(p.N, p.Degree, p.Seed)
	if err != nil {
		return nil, err
	}
	bw := metrics.NewBandwidthCounter()
	hosts, err := NewHosts(p.N, bw)
	if err != nil {
		return nil, err
	}
	net, err := impl.Start(ctx, hosts, p.Impl, func(node int, data []byte) {
		rec.Delivered(node, data, time.Now())
	})
	if err != nil {
		CloseHosts(hosts)
		return nil, fmt.Errorf("start: %w", err)
	}
	e := &env{hosts: hosts, bw: bw, net: net, edges: edges}
	if err := Connect(ctx, hosts, edges); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	_ = e.net.Close()
	CloseHosts(e.hosts)
}

// pick chooses a publisher, a topic and the nodes that should receive.
type pick func(rng *rand.Rand) (node int, topic string, want []bool)

// measureLoad publishes at rate for p.Duration, drains, and measures the
// window (CPU, bytes, drops, latencies).
func (e *env) measureLoad(ctx context.Context, p Params, rate int, rec *Recorder, choose pick) RateResult {
	waitMeters()
	cpu0, bytes0, drops0 := cpuTime(), e.bw.GetBandwidthTotals().TotalOut, e.net.Drops()
	by0 := dropsBy(e.net)
	sampler := startQueueSampler(e.net, p.Duration+p.Drain)
	loadStart := time.Now()
	heap := load(ctx, e.net, p, rate, rec, choose)
	loadTime := time.Since(loadStart)
	deadline := time.Now().Add(p.Drain)
	for time.Now().Before(deadline) && !rec.Complete() {
		time.Sleep(20 * time.Millisecond)
	}
	// The window ends here: deliveries, CPU and queue samples after the
	// drain do not count (the byte meters need a moment to catch up).
	cpu1 := cpuTime()
	s := rec.Snapshot()
	samples := sampler.stop()
	waitMeters()
	bytes1, drops1 := e.bw.GetBandwidthTotals().TotalOut, e.net.Drops()

	row := RateResult{
		Rate: rate, Published: s.Published,
		P50ms: ms(s.P50), P99ms: ms(s.P99), MaxMs: ms(s.Max),
		OpenP50ms: ms(s.OpenP50), OpenP99ms: ms(s.OpenP99),
		LoadSeconds: loadTime.Seconds(), PublishLagMaxMs: ms(s.PublishLagMax),
		HeapMiBPerNode: float64(heap) / float64(p.N) / (1 << 20),
		Duplicates:     s.Duplicates, Drops: -1,
		Contend: p.Contend, PublishWindow: p.Impl.PublishWindow, PayloadBytes: p.PayloadSize, LoadAvg1: LoadAverage(),
		MaxQueueBytes: -1, MaxQueueMessages: -1,
	}
	if samples != nil {
		row.QueueDepth = samples
		row.MaxQueueBytes, row.MaxQueueMessages = 0, 0
		for _, q := range samples {
			row.MaxQueueBytes = max(row.MaxQueueBytes, q.Bytes)
			row.MaxQueueMessages = max(row.MaxQueueMessages, q.Messages)
		}
	}
	if drops0 >= 0 && drops1 >= 0 {
		row.Drops = drops1 - drops0
	}
	for k, v := range dropsBy(e.net) {
		if d := v - by0[k]; d != 0 {
			if row.DropsBy == nil {
				row.DropsBy = map[string]int64{}
			}
			row.DropsBy[k] = d
		}
	}
	if s.Expected > 0 {
		row.DeliveryPct = 100 * float64(s.Deliveries) / float64(s.Expected)
	}
	if s.Deliveries > 0 {
		row.CPUPerDeliveryUs = float64((cpu1 - cpu0).Microseconds()) / float64(s.Deliveries)
		row.WireBytesPerDelivery = float64(bytes1-bytes0) / float64(s.Deliveries)
	}
	return row
}

// warmUp waits until every node has at least MinMesh mesh peers, at most
// Warmup; a network that never gets there is measured anyway (and the row
// shows the full warm-up time).
func warmUp(ctx context.Context, net Network, p Params) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < p.Warmup {
		sizes, err := net.MeshSizes(ctx, M1Topic)
		if err != nil {
			return 0, fmt.Errorf("warm-up: %w", err)
		}
		if slicesMin(sizes) >= p.MinMesh {
			return time.Since(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Log.Warn("warm-up did not reach the minimum mesh size", "min_mesh", p.MinMesh, "after", p.Warmup)
	return time.Since(start), nil
}

// load publishes at rate msg/s for p.Duration from uniformly random nodes
// and returns the heap in use sampled half way.
func load(ctx context.Context, net Network, p Params, rate int, rec *Recorder, choose pick) uint64 {
	rng := rand.New(rand.NewSource(p.Seed))
	interval := time.Second / time.Duration(rate)
	total := int(p.Duration / interval)
	start := time.Now()
	var heap uint64
	var publishErrs int
	var tracing *traceWindow
	defer func() { tracing.stop() }() // the window ends with the load at the latest
	for i := range total {
		scheduled := start.Add(time.Duration(i) * interval)
		if d := time.Until(scheduled); d > 0 {
			time.Sleep(d)
		}
		if i == total/2 {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heap = ms.HeapInuse
			if p.HeapProfile != "" {
				writeHeapProfile(fmt.Sprintf("%s.%s.%d", p.HeapProfile, p.Impl.Variant(), rate), p.Log)
			}
			if p.Trace != "" {
				tracing = startTraceWindow(fmt.Sprintf("%s.%s.%d", p.Trace, p.Impl.Variant(), rate), p.TraceWindow, p.Log)
			}
		}
		node, topic, want := choose(rng)
		data := make([]byte, p.PayloadSize)
		rng.Read(data[HeaderSize:])
		now := time.Now()
		EncodePayload(data, uint64(i), now.UnixNano())
		rec.PublishedAt(uint64(i), node, want, scheduled, now.Sub(scheduled))
		if err := net.Publish(ctx, node, topic, data); err != nil {
			publishErrs++
			if publishErrs <= 3 {
				p.Log.Warn("publish failed", "node", node, "err", err)
			}
		}
	}
	if publishErrs > 0 {
		p.Log.Warn("publish errors", "count", publishErrs)
	}
	return heap
}

// queueSampler samples a QueueDepther until stopped or until its bound.
// stop never waits for a sample in progress: a sample that takes long (the
// process starved of CPU) must not stretch the measured window.
type queueSampler struct {
	done    chan struct{}
	mu      sync.Mutex
	out     []QueueSample
	enabled bool
}

// startQueueSampler samples net every queueSampleEvery for at most bound
// (plus a second of slack); nets that are not QueueDepthers get a no-op.
func startQueueSampler(net Network, bound time.Duration) *queueSampler {
	q := &queueSampler{done: make(chan struct{})}
	d, ok := net.(QueueDepther)
	if !ok {
		return q
	}
	q.enabled = true
	limit := int((bound+time.Second)/queueSampleEvery) + 1
	q.out = make([]QueueSample, 0, limit)
	start := time.Now()
	q.out = append(q.out, QueueSample{QueueDepth: d.QueueDepth()}) // the window's start, before the load
	go func() {
		t := time.NewTicker(queueSampleEvery)
		defer t.Stop()
		for range limit - 1 {
			select {
			case <-q.done:
				return
			case <-t.C:
			}
			sample := QueueSample{AtMs: ms(time.Since(start)), QueueDepth: d.QueueDepth()}
			q.mu.Lock()
			q.out = append(q.out, sample)
			q.mu.Unlock()
		}
	}()
	return q
}

// stop ends sampling and returns the samples taken (nil when not sampled).
func (q *queueSampler) stop() []QueueSample {
	close(q.done)
	if !q.enabled {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.out
	q.out = nil // a sample finishing late is not appended to the result
	return out
}

// writeHeapProfile writes the heap profile to name; a failure is logged, not
// fatal, since the figures are still measured.
func writeHeapProfile(name string, log *slog.Logger) {
	f, err := os.Create(name)
	if err != nil {
		log.Warn("heap profile", "err", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Warn("heap profile", "file", name, "err", err)
	}
}

// waitMeters lets go-libp2p's bandwidth meters (swept once a second) catch
// up so window totals are exact.
func waitMeters() { time.Sleep(1100 * time.Millisecond) }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func slicesMin(v []int) int {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v[1:] {
		m = min(m, x)
	}
	return m
}

// ErrNotSupported is returned by implementations for scenario options they
// cannot honour.
var ErrNotSupported = errors.New("meshbench: not supported by this implementation")

// traceWindow is a runtime/trace being written for a bounded time.
type traceWindow struct {
	f     *os.File
	timer *time.Timer
	once  sync.Once
}

// startTraceWindow traces the whole process into name for d (or until stop);
// a failure is logged, not fatal, since the figures are still measured.
func startTraceWindow(name string, d time.Duration, log *slog.Logger) *traceWindow {
	f, err := os.Create(name)
	if err != nil {
		log.Warn("trace", "err", err)
		return nil
	}
	if err := trace.Start(f); err != nil {
		log.Warn("trace", "file", name, "err", err)
		_ = f.Close()
		return nil
	}
	t := &traceWindow{f: f}
	t.timer = time.AfterFunc(d, t.stop)
	return t
}

func (t *traceWindow) stop() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		t.timer.Stop()
		trace.Stop()
		_ = t.f.Close()
	})
}

// dropsBy returns the network's drops by counter and label, or nil when it
// cannot split them.
func dropsBy(n Network) map[string]int64 {
	if b, ok := n.(DropBreakdowner); ok {
		return b.DropsBy()
	}
	return nil
}
