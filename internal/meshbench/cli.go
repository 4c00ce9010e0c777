package meshbench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Main is the command line shared by cmd/meshbench and bench/reference: it
// parses args, runs M1 for the chosen variants against impl and prints the
// table (or JSON). It returns the process exit code.
func Main(impl Impl, args []string, stdout, stderr io.Writer) int {
	RunContenderIfChild()
	fs := flag.NewFlagSet("meshbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := DefaultParams(false)
	n := fs.Int("n", def.N, "number of nodes")
	degree := fs.Int("degree", def.Degree, "dials per node in the topology")
	seed := fs.Int64("seed", def.Seed, "topology and publisher seed")
	rates := fs.String("rates", "100,250,500,1000,2000,4000", "comma-separated publish rates (msg/s, all publishers together)")
	duration := fs.Duration("duration", def.Duration, "load duration per rate")
	drain := fs.Duration("drain", def.Drain, "longest wait for stragglers after the load")
	warmup := fs.Duration("warmup", def.Warmup, "longest wait for every mesh to reach -min-mesh")
	minMesh := fs.Int("min-mesh", def.MinMesh, "mesh size every node must reach before the load")
	variant := fs.String("variant", "both", "nosign, sign or both")
	profile := fs.String("profile", "libp2p", "peermesh profile: waku or libp2p (ignored by the reference)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := fs.String("memprofile", "", "write a heap profile half way through each rate's load to this file + \".<variant>.<rate>\"")
	traceFile := fs.String("trace", "", "write a runtime/trace of -trace-window from half way through each rate's load to this file + \".<variant>.<rate>\"")
	traceWindow := fs.Duration("trace-window", 2*time.Second, "length of the -trace window")
	blockprofile := fs.String("blockprofile", "", "write a blocking profile of the whole run to this file")
	mutexprofile := fs.String("mutexprofile", "", "write a mutex contention profile of the whole run to this file")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	scenario := fs.String("scenario", "m1", "m1 (one topic, rates) or m2 (many topics: idle heartbeat cost, then load)")
	topics := fs.Int("topics", 200, "m2: number of topics")
	perNode := fs.Int("topics-per-node", 50, "m2: topics each node joins")
	m2Rate := fs.Int("m2-rate", 100, "m2: publish rate under load, msg/s over all topics")
	m2Idle := fs.Duration("m2-idle", DefaultM2Params(false).Idle, "m2: length of the idle measurement window")
	idleProfile := fs.String("idle-cpuprofile", "", "m2: write a CPU profile of the idle window only to this file (not with -cpuprofile)")
	window := fs.Int("publish-window", def.Impl.PublishWindow, "peermesh: publishes per node awaiting their Published answer before Publish blocks; 1, the default, is go-libp2p-pubsub's rule (its Publish waits for its event loop to take the message in, ADR 0030) (0: never wait; the reference accepts only the default)")
	size := fs.Int("size", def.PayloadSize, fmt.Sprintf("message payload bytes, %d to %d (the PL evaluation's report workload: 2048)", HeaderSize, MaxPayloadSize))
	contend := fs.Int("contend", 0, "start a separate CPU-burner process with this many busy threads for the whole run (M1-contended; 0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *window < 0 {
		fmt.Fprintf(stderr, "invalid -publish-window %d: want 0 or more\n", *window)
		return 2
	}
	if *size < HeaderSize || *size > MaxPayloadSize {
		fmt.Fprintf(stderr, "invalid -size %d: want %d..%d bytes\n", *size, HeaderSize, MaxPayloadSize)
		return 2
	}
	if *contend < 0 || *contend > MaxContend {
		fmt.Fprintf(stderr, "invalid -contend %d: want 0..%d\n", *contend, MaxContend)
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "invalid -log-level %q\n", *logLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	rateList, err := parseRates(*rates)
	if err != nil {
		fmt.Fprintf(stderr, "invalid -rates: %v\n", err)
		return 2
	}
	var variants []bool
	switch *variant {
	case "nosign":
		variants = []bool{false}
	case "sign":
		variants = []bool{true}
	case "both":
		variants = []bool{false, true}
	default:
		fmt.Fprintf(stderr, "invalid -variant %q: want nosign, sign or both\n", *variant)
		return 2
	}
	if *scenario != "m1" && *scenario != "m2" {
		fmt.Fprintf(stderr, "invalid -scenario %q: want m1 or m2\n", *scenario)
		return 2
	}
	if *profile != "waku" && *profile != "libp2p" {
		fmt.Fprintf(stderr, "invalid -profile %q: want waku or libp2p\n", *profile)
		return 2
	}
	if *cpuprofile != "" && *idleProfile != "" {
		fmt.Fprintln(stderr, "-cpuprofile and -idle-cpuprofile exclude each other (one CPU profile at a time)")
		return 2
	}
	if *m2Idle <= 0 {
		fmt.Fprintf(stderr, "invalid -m2-idle %s: want > 0\n", *m2Idle)
		return 2
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "cpuprofile: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "cpuprofile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if *blockprofile != "" {
		runtime.SetBlockProfileRate(int(10 * time.Microsecond)) // blocking events of 10 µs or more, sampled
		defer writeProfile("block", *blockprofile, stderr)
	}
	if *mutexprofile != "" {
		runtime.SetMutexProfileFraction(10)
		defer writeProfile("mutex", *mutexprofile, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	burner, err := StartContender(*contend)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	defer burner.Stop()
	if burner != nil {
		log.Info("CPU burner started", "threads", burner.Threads, "pid", burner.Pid())
	}
	var rows []RateResult
	var m2 []M2Result
	for _, sign := range variants {
		p := DefaultParams(sign)
		p.N, p.Degree, p.Seed, p.Rates = *n, *degree, *seed, rateList
		p.Duration, p.Drain, p.Warmup, p.MinMesh = *duration, *drain, *warmup, *minMesh
		p.Impl.Profile, p.Impl.PublishWindow = *profile, *window
		p.Log = log
		p.HeapProfile = *memprofile
		p.Trace, p.TraceWindow = *traceFile, *traceWindow
		p.Contend = *contend
		p.PayloadSize = *size
		if *scenario == "m2" {
			mp := DefaultM2Params(sign)
			mp.Params, mp.Topics, mp.PerNode, mp.Rate, mp.Idle = p, *topics, *perNode, *m2Rate, *m2Idle
			mp.IdleCPUProfile = *idleProfile
			got, err := RunM2(ctx, impl, mp)
			if err != nil {
				log.Error("run failed", "err", err)
				return 1
			}
			m2 = append(m2, got)
			continue
		}
		got, err := RunM1(ctx, impl, p)
		rows = append(rows, got...)
		if err != nil {
			log.Error("run failed", "err", err)
			return 1
		}
	}
	if *scenario == "m2" {
		if *asJSON {
			err = WriteJSON(stdout, m2)
		} else {
			err = WriteM2Table(stdout, m2)
		}
		if err != nil {
			fmt.Fprintf(stderr, "write results: %v\n", err)
			return 1
		}
		return 0
	}
	if *asJSON {
		err = WriteJSON(stdout, rows)
	} else {
		err = WriteTable(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "write results: %v\n", err)
		return 1
	}
	return 0
}

func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 1_000_000 {
			return nil, fmt.Errorf("rate %q is not a whole number from 1 to 1000000", f)
		}
		out = append(out, r)
	}
	return out, nil
}

// writeProfile writes the named runtime profile (block, mutex) to file.
func writeProfile(name, file string, stderr io.Writer) {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintf(stderr, "%sprofile: %v\n", name, err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintf(stderr, "%sprofile: %v\n", name, err)
	}
}
