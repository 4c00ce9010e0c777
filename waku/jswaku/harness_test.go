package jswaku

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/interop"
)

// jsDir is testdata/interop/jswaku of this module.
func jsDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	dir, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "interop", "jswaku"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err != nil {
		t.Fatalf("js-waku harness: %v", err)
	}
	return dir
}

// event is one JSON line of peer.mjs: an event, or the answer to command id.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }

// jsNode is a running peer.mjs.
type jsNode struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	cond   *sync.Cond
	events []event
	done   bool
	nextID int
	ID     string
	Addrs  []string
	log    strings.Builder
}

// startJS runs peer.mjs with cfg and waits for it to be ready; it is
// stopped at test cleanup and its output logged when the test failed.
func startJS(t *testing.T, dir string, cfg map[string]any) *jsNode {
	t.Helper()
	return startScript(t, dir, "peer.mjs", cfg, "NODE_ENV=test")
}

// startJSEnv is startJS with env added to the process environment instead
// of NODE_ENV=test (which relaxes js-waku's wss-only address filter).
func startJSEnv(t *testing.T, dir string, cfg map[string]any, env ...string) *jsNode {
	t.Helper()
	return startScript(t, dir, "peer.mjs", cfg, env...)
}

// startScript runs another script of the harness speaking the same lines
// (px.mjs) with env added to the process environment.
func startScript(t *testing.T, dir, script string, cfg map[string]any, env ...string) *jsNode {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command("node", filepath.Join(dir, script), string(raw))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &jsNode{t: t, cmd: cmd, stdin: stdin}
	n.cond = sync.NewCond(&n.mu)
	cmd.Stderr = &lockedLog{n: n}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	go n.read(stdout)
	t.Cleanup(func() {
		_ = stdin.Close()
		waited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			n.mu.Lock()
			t.Logf("js-waku %v output:\n%s", cfg, n.log.String())
			n.mu.Unlock()
		}
	})
	ready := n.waitFor(60*time.Second, "ready", func(e event) bool { return e.str("event") == "ready" })
	n.ID = ready.str("peerId")
	for _, a := range ready["addrs"].([]any) {
		n.Addrs = append(n.Addrs, a.(string))
	}
	return n
}

type lockedLog struct{ n *jsNode }

func (l *lockedLog) Write(b []byte) (int, error) {
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	if l.n.log.Len() < 1<<20 {
		l.n.log.Write(b)
	}
	return len(b), nil
}

func (n *jsNode) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		n.mu.Lock()
		if n.log.Len() < 1<<20 {
			n.log.Write(line)
			n.log.WriteByte('\n')
		}
		if json.Unmarshal(line, &e) == nil {
			n.events = append(n.events, e)
		}
		n.cond.Broadcast()
		n.mu.Unlock()
	}
	n.mu.Lock()
	n.done = true
	n.cond.Broadcast()
	n.mu.Unlock()
}

// waitFor returns the first event matching match, waiting at most d.
func (n *jsNode) waitFor(d time.Duration, what string, match func(event) bool) event {
	n.t.Helper()
	deadline := time.Now().Add(d)
	timer := time.AfterFunc(d, func() { n.mu.Lock(); n.cond.Broadcast(); n.mu.Unlock() })
	defer timer.Stop()
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		for _, e := range n.events {
			if match(e) {
				return e
			}
		}
		if n.done || time.Now().After(deadline) {
			n.t.Fatalf("js-waku: no %s within %s (exited: %v)", what, d, n.done)
		}
		n.cond.Wait()
	}
}

// request sends a command and returns its answer (an error answer fails
// the test).
func (n *jsNode) request(cmd string, args map[string]any) event {
	n.t.Helper()
	e, err := n.tryRequest(cmd, args)
	if err != nil {
		n.t.Fatal(err)
	}
	return e
}

func (n *jsNode) tryRequest(cmd string, args map[string]any) (event, error) {
	n.t.Helper()
	n.mu.Lock()
	n.nextID++
	id := n.nextID
	n.mu.Unlock()
	msg := map[string]any{"id": id, "cmd": cmd}
	for k, v := range args {
		msg[k] = v
	}
	raw, _ := json.Marshal(msg)
	if _, err := n.stdin.Write(append(raw, '\n')); err != nil {
		return nil, fmt.Errorf("js-waku %s: %w", cmd, err)
	}
	e := n.waitFor(30*time.Second, "answer to "+cmd, func(e event) bool { v, ok := e["id"].(float64); return ok && int(v) == id })
	if s := e.str("error"); s != "" {
		return e, fmt.Errorf("js-waku %s: %s", cmd, s)
	}
	return e, nil
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// ensureInstalled runs npm ci in dir when needed (bounded).
func ensureInstalled(t *testing.T, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interop.NPMTimeout)
	defer cancel()
	if err := interop.EnsureInstalled(ctx, dir); err != nil {
		t.Fatal(err)
	}
}
