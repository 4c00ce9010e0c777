package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/x/simlibp2p"
	"github.com/marcopolo/simnet"
)

// Mbps is one megabit per second, for Config.BitsPerSecond.
const Mbps = simlibp2p.OneMbps

// Config describes a simulated network.
type Config struct {
	// Nodes is the number of hosts.
	Nodes int
	// Latency is the one-way base latency of every link. Default 25 ms (the
	// gossipsub v1.1 evaluation's links).
	Latency time.Duration
	// Jitter adds a seeded per-link constant in [0, Jitter) to Latency, so
	// links differ but each link is stable (no reordering within a link).
	// Default Latency/10 (the evaluation's 10 %); negative means none.
	Jitter time.Duration
	// LinkLatency, if set, replaces Latency and Jitter: the one-way latency
	// from node i to node j.
	LinkLatency func(i, j int) time.Duration
	// BitsPerSecond is every node's uplink and downlink bandwidth. Default
	// 100 Mbps.
	BitsPerSecond int
	// NodeBandwidth, if set, overrides BitsPerSecond for node i.
	NodeBandwidth func(i int) int
	// Seed drives link jitter (and Topology when it is given no seed of its own).
	Seed uint64
	// SharesIPWith, if set, puts node i at the IP of node SharesIPWith(i)
	// (on a port of its own): hosts packed on few addresses, as the
	// evaluation's IP-colocation sybils (reliability-anchors a.2 scenario
	// 9). A node for which it returns i, or an index out of range, keeps its
	// own IP.
	SharesIPWith func(i int) int
	// Key, if set, is node i's identity; otherwise go-libp2p draws one. A
	// seeded Key makes peer ids, and so every ordering by id, reproducible;
	// Restart needs it to bring a node back under the same id.
	Key func(i int) crypto.PrivKey
}

func (c *Config) defaults() {
	if c.Latency <= 0 {
		c.Latency = 25 * time.Millisecond
	}
	if c.Jitter == 0 {
		c.Jitter = c.Latency / 10
	}
	if c.BitsPerSecond <= 0 {
		c.BitsPerSecond = 100 * Mbps
	}
}

// SettleAtEnd is the protocol time New's cleanup lets pass, after every
// cleanup registered later (actor systems, routers, hosts) has run, before it
// stops the simulated network. Create the network before the actor systems
// that use it so that their cleanups run first.
const SettleAtEnd = 3 * time.Second

// Network is a set of hosts on one simulated network.
type Network struct {
	// Hosts are the nodes, index i at IP simnet.IntToPublicIPv4(i) (or the
	// IP Config.SharesIPWith gives it).
	Hosts []host.Host

	cfg     Config
	tb      testing.TB
	net     *simnet.Simnet
	byAddr  map[string]int // "ip:port" → node
	latency [][]time.Duration

	// cut, when set, says which links are down (Partition).
	mu  sync.Mutex
	cut func(from, to int) bool
}

// New builds cfg.Nodes hosts on a simulated network and starts it. Call it
// inside a synctest bubble (synctest.Test); the hosts and the network are
// closed when tb's cleanup runs.
func New(tb testing.TB, cfg Config) (*Network, error) {
	tb.Helper()
	cfg.defaults()
	if cfg.Nodes <= 0 {
		return nil, fmt.Errorf("sim: Nodes must be > 0, got %d", cfg.Nodes)
	}
	n := &Network{cfg: cfg, tb: tb, byAddr: make(map[string]int, cfg.Nodes)}
	n.latency = latencyMatrix(cfg)
	n.net = &simnet.Simnet{LatencyFunc: n.packetLatency}
	// Registered first so it runs last: hosts close before the network stops
	// carrying their goodbye packets. Before that, protocol time passes for
	// SettleAtEnd: actors stopped by later cleanups produce dead letters, and
	// protoactor-go's dead-letter throttle answers the first one by starting
	// a goroutine that waits one throttle interval (1 s); a bubble must not
	// end while it waits.
	tb.Cleanup(func() {
		time.Sleep(SettleAtEnd)
		n.net.Close()
	})
	// The hosts there are at the end (Restart and Replace swap them): a
	// cleanup per host ever made would keep every closed one reachable
	// until the test ends, which a long soak measures as a leak.
	tb.Cleanup(func() {
		for _, h := range n.Hosts {
			_ = h.Close()
		}
	})
	for i := range cfg.Nodes {
		h, err := n.newHost(i)
		if err != nil {
			return nil, err
		}
		n.byAddr[n.addr(i).String()] = i
		n.Hosts = append(n.Hosts, h)
	}
	n.net.Start()
	return n, nil
}

// newHost builds node i's host at its IP with its Config.Key (closed by the
// test's cleanup).
func (n *Network) newHost(i int) (host.Host, error) {
	var key crypto.PrivKey
	if n.cfg.Key != nil {
		key = n.cfg.Key(i)
	}
	return n.newHostWith(i, key)
}

// newHostWith builds a host at node i's IP with key (nil: a fresh one).
func (n *Network) newHostWith(i int, key crypto.PrivKey) (host.Host, error) {
	bw := n.cfg.BitsPerSecond
	if n.cfg.NodeBandwidth != nil {
		bw = n.cfg.NodeBandwidth(i)
	}
	link := simnet.NodeBiDiLinkSettings{
		Downlink: simnet.LinkSettings{BitsPerSecond: bw},
		Uplink:   simnet.LinkSettings{BitsPerSecond: bw},
	}
	a := n.addr(i)
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", a.IP, a.Port)),
		simlibp2p.QUICSimnet(n.net, link),
		// Identify's address discovery stalls synctest (see x/simlibp2p).
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("sim: host %d: %w", i, err)
	}
	return h, nil
}

// addr is node i's UDP address: port 8000 at its own IP, or, sharing
// another node's IP (Config.SharesIPWith), port 8000+i there.
func (n *Network) addr(i int) *net.UDPAddr {
	if n.cfg.SharesIPWith != nil {
		if j := n.cfg.SharesIPWith(i); j != i && j >= 0 && j < n.cfg.Nodes {
			return &net.UDPAddr{IP: simnet.IntToPublicIPv4(j), Port: 8000 + i}
		}
	}
	return &net.UDPAddr{IP: simnet.IntToPublicIPv4(i), Port: 8000}
}

// Restart gives node i a new host at the same address with the same
// identity (Config.Key is required), as a process restarted on its data
// directory; the old host must have been closed. It returns the new host,
// which also replaces Hosts[i].
func (n *Network) Restart(i int) (host.Host, error) {
	if n.cfg.Key == nil {
		return nil, errors.New("sim: Restart needs Config.Key (the same identity again)")
	}
	return n.Replace(i, n.cfg.Key(i))
}

// Replace gives node i a new host at the same address with identity key
// (another peer at that IP, e.g. a short-lived one of a flood); the old host
// must have been closed. It returns the new host, which also replaces
// Hosts[i].
func (n *Network) Replace(i int, key crypto.PrivKey) (host.Host, error) {
	_ = n.Hosts[i].Close() // closing again is harmless; a host left open would leak
	h, err := n.newHostWith(i, key)
	if err != nil {
		return nil, err
	}
	n.Hosts[i] = h
	return h, nil
}

// Partition cuts the links for which down(from, to) is true, in both
// directions as the function says, until Partition(nil) heals them. A cut
// link delivers nothing in the protocol time of a test (its packets are
// held for a day), so connections across it time out as across a real
// partition.
func (n *Network) Partition(down func(from, to int) bool) {
	n.mu.Lock()
	n.cut = down
	n.mu.Unlock()
}

// partitionDelay is what a packet over a cut link takes: longer than any
// test runs, so in effect never.
const partitionDelay = 24 * time.Hour

// latencyMatrix draws each link's one-way latency once, symmetric, from the
// seed.
func latencyMatrix(cfg Config) [][]time.Duration {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x51a))
	m := make([][]time.Duration, cfg.Nodes)
	for i := range m {
		m[i] = make([]time.Duration, cfg.Nodes)
	}
	for i := range cfg.Nodes {
		for j := i; j < cfg.Nodes; j++ {
			if cfg.LinkLatency != nil {
				m[i][j], m[j][i] = cfg.LinkLatency(i, j), cfg.LinkLatency(j, i)
				continue
			}
			d := cfg.Latency
			if cfg.Jitter > 0 {
				d += time.Duration(rng.Int64N(int64(cfg.Jitter)))
			}
			m[i][j], m[j][i] = d, d
		}
	}
	return m
}

// packetLatency is the simnet router's latency function: the link's entry in
// the matrix (read-only after New, so safe from the router's goroutine).
func (n *Network) packetLatency(p *simnet.Packet) time.Duration {
	from, ok1 := n.index(p.From)
	to, ok2 := n.index(p.To)
	if !ok1 || !ok2 {
		return 0
	}
	n.mu.Lock()
	cut := n.cut != nil && n.cut(from, to)
	n.mu.Unlock()
	if cut {
		return partitionDelay
	}
	return n.latency[from][to]
}

func (n *Network) index(a net.Addr) (int, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return 0, false
	}
	i, ok := n.byAddr[u.String()]
	return i, ok
}

// Pick returns the hosts at indices, in order.
func (n *Network) Pick(indices []int) []host.Host {
	out := make([]host.Host, len(indices))
	for k, i := range indices {
		out[k] = n.Hosts[i]
	}
	return out
}

// Latency is the configured one-way latency from node i to node j.
func (n *Network) Latency(i, j int) time.Duration { return n.latency[i][j] }

// Info is node i's address info, for dialing it.
func (n *Network) Info(i int) peer.AddrInfo {
	return peer.AddrInfo{ID: n.Hosts[i].ID(), Addrs: n.Hosts[i].Addrs()}
}

// Index returns the node index of a peer id.
func (n *Network) Index(id peer.ID) (int, bool) {
	for i, h := range n.Hosts {
		if h.ID() == id {
			return i, true
		}
	}
	return 0, false
}

// Connect makes node i dial node j.
func (n *Network) Connect(ctx context.Context, i, j int) error {
	if err := n.Hosts[i].Connect(ctx, n.Info(j)); err != nil {
		return fmt.Errorf("sim: connect %d → %d: %w", i, j, err)
	}
	return nil
}

// DialParallelism bounds the dials ConnectAll runs at once: enough to keep
// both cores of a small machine busy with handshakes, few enough that the
// simulated links are not flooded with handshake packets.
const DialParallelism = 8

// Topology connects each node in from to at least degree distinct random
// nodes of to (seeded), dialing from the from side, and returns every node's
// neighbours (both directions). Nodes in both sets never dial themselves. The
// graph is planned first from the seed alone, then dialed in parallel, so it
// does not depend on the order in which handshakes finish. It fails when a
// node cannot reach the degree (to is too small) or a dial fails.
func (n *Network) Topology(ctx context.Context, from, to []int, degree int, seed uint64) (map[int]map[int]bool, error) {
	nb, edges, err := PlanTopology(from, to, degree, seed)
	if err != nil {
		return nb, err
	}
	return nb, n.ConnectAll(ctx, edges)
}

// PlanTopology is Topology's plan without dialing: the neighbours of every
// node and the edges to dial ([i, j]: i dials j), in a seeded random order.
func PlanTopology(from, to []int, degree int, seed uint64) (map[int]map[int]bool, [][2]int, error) {
	rng := rand.New(rand.NewPCG(seed, 0x7090))
	nb := map[int]map[int]bool{}
	var edges [][2]int
	link := func(i, j int) {
		if nb[i] == nil {
			nb[i] = map[int]bool{}
		}
		if nb[j] == nil {
			nb[j] = map[int]bool{}
		}
		nb[i][j], nb[j][i] = true, true
		edges = append(edges, [2]int{i, j})
	}
	for _, i := range from {
		candidates := make([]int, 0, len(to))
		for _, j := range to {
			if j != i {
				candidates = append(candidates, j)
			}
		}
		rng.Shuffle(len(candidates), func(a, b int) { candidates[a], candidates[b] = candidates[b], candidates[a] })
		have := 0
		for _, j := range candidates {
			if nb[i][j] {
				have++
			}
		}
		for _, j := range candidates {
			if have >= degree {
				break
			}
			if !nb[i][j] {
				link(i, j)
				have++
			}
		}
		if have < degree {
			return nb, edges, fmt.Errorf("sim: node %d has %d neighbours, wants %d (only %d candidates)", i, have, degree, len(candidates))
		}
	}
	return nb, edges, nil
}

// ConnectAll dials every edge ([i, j]: i dials j), at most DialParallelism
// at a time, and returns every failure.
func (n *Network) ConnectAll(ctx context.Context, edges [][2]int) error {
	errs := make([]error, len(edges))
	sem := make(chan struct{}, DialParallelism)
	var wg sync.WaitGroup
	for k, e := range edges {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[k] = n.Connect(ctx, e[0], e[1])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Range returns the indices [lo, hi).
func Range(lo, hi int) []int {
	out := make([]int, 0, max(0, hi-lo))
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// Advance lets d of protocol time pass inside the bubble, then waits until
// every goroutine of the bubble is blocked again (everything d triggered has
// happened). Only valid inside a synctest bubble.
func Advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// Run calls step every interval for total protocol time (at most
// total/interval calls, the first after one interval), with each step's
// virtual time; it stops early when step returns false.
func Run(total, interval time.Duration, step func(now time.Time) bool) {
	if interval <= 0 {
		return
	}
	for range int(total / interval) {
		Advance(interval)
		if !step(time.Now()) {
			return
		}
	}
}
