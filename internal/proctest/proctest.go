// Package proctest runs real processes for black-box tests: it builds a
// command, starts it with arguments, keeps its JSON log lines (slog's
// JSON handler on stderr) and waits, bounded, for a line or for a
// condition polled over the process's own API. Every process is killed at
// the test's cleanup, and its log printed when the test failed.
//
// tests/heal uses it with cmd/node; any black-box test of a peermesh
// binary can.
package proctest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build compiles the Go package pkg (a path as `go build` takes it) into
// dir and returns the binary's path.
func Build(dir, pkg string) (string, error) {
	bin := dir + "/" + lastElem(pkg)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

func lastElem(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Proc is one running process and the JSON lines it logged on stderr.
type Proc struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []map[string]any
	log   strings.Builder
	added chan struct{} // a line was added
	done  chan struct{} // the process exited
}

// Start runs binary with args; name labels it in failures.
func Start(t testing.TB, name, binary string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, cmd: exec.Command(binary, args...), added: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stderr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("log of %s:\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

func (p *Proc) read(stderr io.Reader) {
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var m map[string]any
		_ = json.Unmarshal(sc.Bytes(), &m)
		p.mu.Lock()
		p.log.WriteString(sc.Text() + "\n")
		if m != nil {
			p.lines = append(p.lines, m)
		}
		p.mu.Unlock()
		select {
		case p.added <- struct{}{}:
		default:
		}
	}
	_ = p.cmd.Wait()
	close(p.done)
}

// Await returns the string attribute key of the first line whose msg is
// msg, waiting at most d; the process exiting first fails the test.
func (p *Proc) Await(d time.Duration, msg, key string) string {
	p.t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if v, ok := l[key].(string); ok && l["msg"] == msg {
				p.mu.Unlock()
				return v
			}
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-p.done:
			p.t.Fatalf("%s exited before logging %q", p.name, msg)
		case <-timeout.C:
			p.t.Fatalf("%s logged no %q within %s", p.name, msg, d)
		}
	}
}

// GetJSON decodes the JSON answer to a GET of url (at most 4 MiB, 5 s).
func GetJSON(url string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out)
}

// Eventually polls check every 200 ms until it holds, failing the test
// after d: another process's state has no event to wait on.
func Eventually(t testing.TB, d time.Duration, what string, check func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for !check() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, d)
		case <-poll.C:
		}
	}
}

// FreePort is a loopback TCP port nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
