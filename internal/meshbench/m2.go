package meshbench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// M2Params is the many-topics scenario: N nodes, Topics topics, each node
// joins PerNode of them at random; first idle, then Rate msg/s spread over
// the topics.
type M2Params struct {
	Params
	Topics  int
	PerNode int
	Settle  time.Duration // protocol time before measuring (meshes form)
	Idle    time.Duration // idle measurement window
	Rate    int
	// IdleCPUProfile, if set, is the file a CPU profile of the idle window
	// alone is written to (the whole run's profile is dominated by start-up
	// and load).
	IdleCPUProfile string
}

// DefaultM2Params returns M2 as specified in BENCHMARKS.md.
func DefaultM2Params(sign bool) M2Params {
	return M2Params{Params: DefaultParams(sign), Topics: 200, PerNode: 50,
		Settle: 5 * time.Second, Idle: 10 * time.Second, Rate: 100}
}

// M2Result is the M2 report: the idle heartbeat cost, then M1's figures
// under load.
type M2Result struct {
	Impl    string `json:"impl"`
	Variant string `json:"variant"`
	Topics  int    `json:"topics"`
	PerNode int    `json:"topics_per_node"`
	// TopicPeerPairs counts, over all nodes, (topic joined, connected peer
	// also in that topic) pairs: the units of heartbeat work.
	TopicPeerPairs int `json:"topic_peer_pairs"`
	// IdleCPUPerPairSecondUs is process CPU with no load, per topic-peer
	// pair per second, in microseconds.
	IdleCPUPerPairSecondUs float64    `json:"idle_cpu_us_per_pair_second"`
	IdleWireBytesPerSecond float64    `json:"idle_wire_bytes_per_second"`
	IdleHeapMiBPerNode     float64    `json:"idle_heap_mib_per_node"`
	Load                   RateResult `json:"load"`
}

// RunM2 runs the many-topics scenario on a fresh network.
func RunM2(ctx context.Context, impl Impl, p M2Params) (M2Result, error) {
	if p.PerNode > p.Topics || p.PerNode < 1 {
		return M2Result{}, fmt.Errorf("m2: need 1 <= topics per node (%d) <= topics (%d)", p.PerNode, p.Topics)
	}
	subs := assignTopics(p.N, p.Topics, p.PerNode, p.Seed)
	p.Impl.Topics = make([][]string, p.N)
	for i, ts := range subs {
		for _, t := range ts {
			p.Impl.Topics[i] = append(p.Impl.Topics[i], topicName(t))
		}
	}
	rec := NewRecorder(p.N, p.N*p.Rate*int(p.Duration/time.Second+1))
	e, err := startNetwork(ctx, impl, p.Params, rec)
	if err != nil {
		return M2Result{}, err
	}
	defer e.close()
	time.Sleep(p.Settle)

	res := M2Result{Impl: impl.Name(), Variant: p.Impl.Variant(), Topics: p.Topics, PerNode: p.PerNode}
	member := membership(p.N, p.Topics, subs)
	res.TopicPeerPairs = topicPeerPairs(e.edges, subs, member)
	waitMeters()
	stopProfile, err := startCPUProfile(p.IdleCPUProfile)
	if err != nil {
		return M2Result{}, err
	}
	cpu0, bytes0 := cpuTime(), e.bw.GetBandwidthTotals().TotalOut
	time.Sleep(p.Idle)
	cpu1 := cpuTime()
	stopProfile()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	waitMeters()
	bytes1 := e.bw.GetBandwidthTotals().TotalOut
	if res.TopicPeerPairs > 0 {
		res.IdleCPUPerPairSecondUs = float64((cpu1 - cpu0).Microseconds()) / float64(res.TopicPeerPairs) / p.Idle.Seconds()
	}
	res.IdleWireBytesPerSecond = float64(bytes1-bytes0) / p.Idle.Seconds()
	res.IdleHeapMiBPerNode = float64(ms.HeapInuse) / float64(p.N) / (1 << 20)

	reach := reachability(p.N, p.Topics, e.edges, member)
	res.Load = e.measureLoad(ctx, p.Params, p.Rate, rec, func(rng *rand.Rand) (int, string, []bool) {
		node := rng.Intn(p.N)
		t := subs[node][rng.Intn(len(subs[node]))]
		return node, topicName(t), reach[t][node]
	})
	res.Load.Impl, res.Load.Variant = res.Impl, res.Variant
	return res, nil
}

// startCPUProfile starts a CPU profile to file ("": none) and returns the
// function that stops it.
func startCPUProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("idle cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("idle cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func topicName(t int) string { return fmt.Sprintf("meshbench-%03d", t) }

// assignTopics gives each node perNode distinct topics out of topics.
func assignTopics(n, topics, perNode int, seed int64) [][]int {
	rng := rand.New(rand.NewSource(seed + 1000))
	out := make([][]int, n)
	for i := range out {
		out[i] = rng.Perm(topics)[:perNode]
	}
	return out
}

func membership(n, topics int, subs [][]int) [][]bool {
	m := make([][]bool, topics)
	for t := range m {
		m[t] = make([]bool, n)
	}
	for i, ts := range subs {
		for _, t := range ts {
			m[t][i] = true
		}
	}
	return m
}

func topicPeerPairs(edges []Edge, subs [][]int, member [][]bool) int {
	pairs := 0
	for _, e := range edges {
		for _, t := range subs[e.A] {
			if member[t][e.B] {
				pairs += 2 // each end sees the other in t
			}
		}
	}
	return pairs
}

// reachability returns, per topic and subscriber, the subscribers it can
// reach through connected subscribers of that topic: gossipsub delivers a
// topic's messages only along links between its subscribers, so those are
// the deliveries a correct implementation owes.
func reachability(n, topics int, edges []Edge, member [][]bool) [][][]bool {
	out := make([][][]bool, topics)
	for t := range topics {
		parent := make([]int, n)
		for i := range parent {
			parent[i] = i
		}
		find := func(x int) int {
			for parent[x] != x {
				parent[x] = parent[parent[x]]
				x = parent[x]
			}
			return x
		}
		for _, e := range edges {
			if member[t][e.A] && member[t][e.B] {
				parent[find(e.A)] = find(e.B)
			}
		}
		out[t] = make([][]bool, n)
		for i := range n {
			if !member[t][i] {
				continue
			}
			want := make([]bool, n)
			for j := range n {
				want[j] = member[t][j] && find(j) == find(i)
			}
			out[t][i] = want
		}
	}
	return out
}
