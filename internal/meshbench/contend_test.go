package meshbench

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets StartContender re-execute the test binary as the burner.
func TestMain(m *testing.M) {
	RunContenderIfChild()
	os.Exit(m.Run())
}

// cpuTicks reads a process's user+system CPU ticks from /proc.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("read stat of %d: %v", pid, err)
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func TestContenderBurnsCPUInASeparateProcessUntilStopped(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to observe the burner's CPU time")
	}
	c, err := StartContender(1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if c.Pid() == os.Getpid() || c.Pid() == 0 {
		t.Fatalf("burner pid %d is not a separate process", c.Pid())
	}
	// Wait (bounded) until the burner has used CPU: it is a busy loop, so a
	// few ticks arrive within milliseconds of it being scheduled.
	deadline := time.Now().Add(20 * time.Second)
	for cpuTicks(t, c.Pid()) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("burner used no CPU within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Stop()
	if c.cmd.ProcessState == nil {
		t.Fatal("Stop returned before the burner exited")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(c.Pid())); err == nil {
		t.Fatal("burner process still exists after Stop")
	}
}

func TestContenderNoneAndBounds(t *testing.T) {
	c, err := StartContender(0)
	if err != nil || c != nil {
		t.Fatalf("StartContender(0) = %v, %v; want no burner", c, err)
	}
	c.Stop() // a nil Contender stops as a no-op
	for _, n := range []int{-1, MaxContend + 1} {
		if _, err := StartContender(n); err == nil {
			t.Errorf("StartContender(%d) accepted", n)
		}
	}
}

func TestBurnStopsWhenParentIsGone(t *testing.T) {
	calls := 0
	done := make(chan struct{})
	go func() {
		burn(1, func() bool { calls++; return calls < 3 }, time.Hour)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("burn kept running after alive() turned false")
	}
}

func TestLoadAverageIsReadOnLinux(t *testing.T) {
	if _, err := os.Stat("/proc/loadavg"); err != nil {
		t.Skip("no /proc/loadavg")
	}
	if v := LoadAverage(); v < 0 {
		t.Fatalf("LoadAverage() = %v", v)
	}
}

// depthNet is a Network that reports a fixed queue depth.
type depthNet struct{ Network }

func (depthNet) QueueDepth() QueueDepth { return QueueDepth{Bytes: 2048, Messages: 7} }

func TestQueueSamplerSamplesDepthersOnly(t *testing.T) {
	got := startQueueSampler(depthNet{}, time.Second).stop()
	if len(got) == 0 || got[0].Bytes != 2048 || got[0].Messages != 7 {
		t.Fatalf("samples %+v; want at least one of 2048 B, 7 messages", got)
	}
	if s := startQueueSampler(struct{ Network }{}, time.Second).stop(); s != nil {
		t.Fatalf("a network without QueueDepth was sampled: %+v", s)
	}
}
