package storage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/peermesh/peermesh/actortest"
	"github.com/peermesh/peermesh/internal/bubble"
	peerv1 "github.com/peermesh/peermesh/messages/peer/v1"
	storagev1 "github.com/peermesh/peermesh/messages/storage/v1"
)

// The crash tests re-run this test binary as a child process that writes
// through the real storage actor and a real bbolt file, and kill it with
// SIGKILL. The environment tells the child what to do.
const (
	envChildPath  = "PEERMESH_STORAGE_CHILD_PATH"  // the bbolt file
	envChildMode  = "PEERMESH_STORAGE_CHILD_MODE"  // "exact" or "loop"
	envChildFirst = "PEERMESH_STORAGE_CHILD_FIRST" // first record number to write
)

const (
	exactRecords = 1000 // records the "exact" child acknowledges
	childBatch   = 50   // puts between two Flush requests
)

// TestHelperProcess is the child side of the crash tests; run without the
// environment (a normal test run) it returns at once.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(envChildPath)
	if path == "" {
		return
	}
	first, err := strconv.Atoi(os.Getenv(envChildFirst))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bad", envChildFirst, err)
		os.Exit(2)
	}
	os.Exit(runChild(path, os.Getenv(envChildMode), first))
}

// runChild writes records through the storage actor and prints
// "flushed <n>" after each acknowledged Flush, n being the number of records
// acknowledged so far. "exact" stops acknowledging after exactRecords, puts
// more records that are never flushed, prints "idle" and waits to be killed;
// "loop" writes and flushes until it is killed.
func runChild(path, mode string, first int) int {
	cfg := DefaultConfig()
	cfg.Path = path
	be, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	sys, quiet := quietSystem()
	pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be, Logger: quiet}))
	next := first
	for acked := 0; mode == "loop" || acked < exactRecords; acked += childBatch {
		for range childBatch {
			sys.Root.Send(pid, &storagev1.Put{Record: testRecord(next)})
			next++
		}
		res, err := sys.Root.RequestFuture(pid, &storagev1.Flush{}, time.Minute).Result()
		if f, ok := res.(*storagev1.Flushed); err != nil || !ok || f.GetError() != "" {
			fmt.Fprintln(os.Stderr, "child: flush failed:", res, err)
			return 2
		}
		fmt.Printf("flushed %d\n", acked+childBatch)
	}
	// Accepted but never flushed: below the threshold and no tick comes.
	for range cfg.FlushThreshold - 1 {
		sys.Root.Send(pid, &storagev1.Put{Record: testRecord(next)})
		next++
	}
	fmt.Println("idle")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent kills us
	return 0
}

// child is a running child process and its stdout lines.
type child struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
	// acked is the last "flushed" count read from the child.
	acked int
}

func startChild(t *testing.T, ctx context.Context, path, mode string, first int) *child {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envChildPath+"="+path, envChildMode+"="+mode, envChildFirst+"="+strconv.Itoa(first))
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil { // held open: the idle child blocks on it
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &child{cmd: cmd, lines: bufio.NewScanner(out)}
}

// next reads one line, keeping the "flushed" count; false at the end of the
// output.
func (c *child) next(t *testing.T) (string, bool) {
	t.Helper()
	if !c.lines.Scan() {
		return "", false
	}
	line := c.lines.Text()
	if n, ok := strings.CutPrefix(line, "flushed "); ok {
		v, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		c.acked = v
	}
	return line, true
}

// readUntil reads lines until stop returns true; it fails if the child ends
// first.
func (c *child) readUntil(t *testing.T, stop func(line string, acked int) bool) {
	t.Helper()
	for {
		line, ok := c.next(t)
		if !ok {
			t.Fatalf("child ended after %d acknowledged records: %v", c.acked, c.lines.Err())
		}
		if stop(line, c.acked) {
			return
		}
	}
}

// kill sends SIGKILL and returns how many records the child acknowledged
// before it died. The child runs ahead of this reader, so lines it printed
// before the kill may still sit in the pipe: they are read to the end, and
// only then is the process reaped (Wait closes the pipe).
func (c *child) kill(t *testing.T) int {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := c.next(t); !ok {
			break
		}
	}
	_ = c.cmd.Wait()
	return c.acked
}

// loadWithActor loads the file through a new storage actor, in a synctest
// bubble, and returns the records in peer id order.
func loadWithActor(t *testing.T, path string) (recs []*peerv1.PeerRecord, skipped uint64) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Path = path
	be, err := Open(cfg) // runs the consistency check
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer be.Close()
	bubble.Test(t, func(t *testing.T) {
		sys := actortest.NewSystem(t)
		p := actortest.NewProbe(t, sys)
		pid := sys.Root.Spawn(Props(cfg, Deps{Backend: be}))
		p.Request(pid, &storagev1.LoadAll{BatchSize: 500})
		for {
			switch m := actortest.Expect[proto.Message](p).(type) {
			case *storagev1.LoadBatch:
				recs = append(recs, m.GetRecords()...)
			case *storagev1.LoadCompleted:
				if m.GetError() != "" || int(m.GetLoaded()) != len(recs) {
					t.Fatalf("LoadCompleted %v after %d records", m, len(recs))
				}
				skipped = m.GetSkipped()
				return
			default:
				t.Fatalf("unexpected %T", m)
			}
		}
	})
	return recs, skipped
}

// TestCrashLosesNothingAcknowledged: a child acknowledges exactly N records,
// accepts more without flushing them, and is killed with SIGKILL; a new
// process loads exactly the N acknowledged records, intact.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	path := testConfig(t).Path
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startChild(t, ctx, path, "exact", 0)
	c.readUntil(t, func(line string, _ int) bool { return line == "idle" })
	acked := c.kill(t)
	if acked != exactRecords {
		t.Fatalf("child acknowledged %d records, want %d", acked, exactRecords)
	}
	recs, skipped := loadWithActor(t, path)
	if len(recs) != exactRecords || skipped != 0 {
		t.Fatalf("loaded %d records (%d skipped), want exactly the %d acknowledged", len(recs), skipped, exactRecords)
	}
	for i, r := range recs {
		if !proto.Equal(r, testRecord(i)) {
			t.Fatalf("record %d = %v, want %v", i, r, testRecord(i))
		}
	}
}

// TestCrashDuringWritesKeepsEveryAcknowledgedRecord kills a child that is
// writing and flushing continuously, at a moment that falls inside a write,
// several times on the same file: every acknowledged record is present and
// intact, at most one unacknowledged batch more is, and the file passes the
// consistency check each time.
func TestCrashDuringWritesKeepsEveryAcknowledgedRecord(t *testing.T) {
	path := testConfig(t).Path
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rounds, perRound := 3, 400
	if testing.Short() {
		rounds = 2
	}
	total := 0 // records acknowledged over all rounds, numbered from 0
	for round := range rounds {
		c := startChild(t, ctx, path, "loop", total)
		c.readUntil(t, func(_ string, acked int) bool { return acked >= perRound })
		// The child is already putting and flushing further batches; what it
		// acknowledged until the kill landed is what must be on disk.
		total += c.kill(t)
		recs, skipped := loadWithActor(t, path)
		if skipped != 0 || len(recs) < total || len(recs) > total+childBatch {
			t.Fatalf("round %d: loaded %d (%d skipped), want %d acknowledged plus at most one batch of %d",
				round, len(recs), skipped, total, childBatch)
		}
		for i := range total {
			if !proto.Equal(recs[i], testRecord(i)) {
				t.Fatalf("round %d: record %d = %v, want %v", round, i, recs[i], testRecord(i))
			}
		}
		// The next child continues after the unacknowledged batch, if it landed.
		total = len(recs)
	}
}
