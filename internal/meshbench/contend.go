package meshbench

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The contended scenario (BENCHMARKS.md "M1-contended") shares the CPU with
// a separate process of N busy threads, so a run does not depend on who else
// happens to be on the machine. The burner is this same binary re-executed
// with contendEnv set: no second program to build or ship, and the two
// implementations (cmd/meshbench, bench/reference) get the identical burner.
const contendEnv = "MESHBENCH_CONTEND_CHILD"

// contendMaxLifetime bounds a burner whose parent vanished without the
// kernel's parent-death signal reaching it (it is also killed by Stop).
const contendMaxLifetime = 4 * time.Hour

// MaxContend bounds -contend: more busy threads than this measures the
// scheduler, not the implementation.
const MaxContend = 64

// RunContenderIfChild turns the process into a CPU burner when it was
// started by StartContender, and never returns in that case. Call it first
// thing in main (and in TestMain of tests that start contenders).
func RunContenderIfChild() {
	v, ok := os.LookupEnv(contendEnv)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxContend {
		fmt.Fprintf(os.Stderr, "%s=%q: want 1..%d\n", contendEnv, v, MaxContend)
		os.Exit(2)
	}
	runtime.GOMAXPROCS(n + 1) // n burners plus the watcher
	parent := os.Getppid()
	burn(n, func() bool { return os.Getppid() == parent }, contendMaxLifetime)
	os.Exit(0)
}

// burn keeps n threads busy while alive() holds and lifetime has not passed.
func burn(n int, alive func() bool, lifetime time.Duration) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Hashing keeps a core's ALU and caches busy the way a real
			// CPU-heavy neighbour does; a bare empty loop would not.
			buf := make([]byte, 4096)
			for !stop.Load() {
				for range 256 {
					s := sha256.Sum256(buf)
					copy(buf, s[:])
				}
			}
		}()
	}
	deadline := time.Now().Add(lifetime)
	for time.Now().Before(deadline) && alive() {
		time.Sleep(100 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
}

// Contender is a running CPU-burner process.
type Contender struct {
	cmd     *exec.Cmd
	Threads int
}

// StartContender starts a burner process with n busy threads. n == 0
// returns a nil Contender (no contention), whose Stop is a no-op.
func StartContender(n int) (*Contender, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 0 || n > MaxContend {
		return nil, fmt.Errorf("contend: %d threads: want 0..%d", n, MaxContend)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("contend: find own executable: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), contendEnv+"="+strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// The burner dies with us even if we are killed: the kernel signals it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("contend: start burner: %w", err)
	}
	return &Contender{cmd: cmd, Threads: n}, nil
}

// Pid is the burner's process id (0 for a nil Contender).
func (c *Contender) Pid() int {
	if c == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Stop kills the burner and waits for it to exit.
func (c *Contender) Stop() {
	if c == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// LoadAverage returns the 1-minute load average (/proc/loadavg), or -1 where
// the system does not tell. Every run reports it: on a shared machine a
// figure means little without it.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
