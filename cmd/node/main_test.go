package main

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/peermesh/peermesh"
)

func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%v did not exit", args)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestHelpListsEverySettingWithDefault(t *testing.T) {
	code, out, _ := runBinary(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, want := range []string{"--nodekey", "--listen-address", "--tcp-port", "default: 60000", "--staticnode",
		"--pubsub-topic", "--cluster-id", "--shard\n", "--num-shards-in-network", "--relay\n", "--websocket-support", "default: 8000", "default: 150KiB", "--max-connections", "default: 50", "--peer-store-capacity",
		"--peer-persistence", "--peer-store-move-corrupt", "--ip-colocation-limit", "default: 5", "--relay-peer-exchange", "--rest\n",
		"--rest-address", "--rest-port", "default: 8645", "--metrics-server\n", "--metrics-server-address",
		"--metrics-server-port", "default: 8008", "--log-level", "--log-format", "--data-dir",
		"default: ./peermesh-data", "--profile", "--config-file", "PEERMESH_TCP_PORT"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// The binary introduces itself as peermesh; --version prints its version.
func TestVersionAndName(t *testing.T) {
	code, out, _ := runBinary(t, nil, "--version")
	if code != 0 || out != "peermesh "+peermesh.Version+"\n" {
		t.Fatalf("--version: exit %d, %q", code, out)
	}
	if _, out, _ := runBinary(t, nil, "--help"); !strings.HasPrefix(out, "Usage: peermesh ") {
		t.Fatalf("usage %q", out[:min(len(out), 60)])
	}
}

// A PEERMESH_* variable that names no setting is warned about, not
// silently ignored; --ports-shift moves the servers.
func TestUnknownEnvWarnsAndPortsShift(t *testing.T) {
	restPort, metricsPort := freeTCPPort(t), freeTCPPort(t)
	p := startProc(t, []string{"PEERMESH_TCP_PROT=1"}, "--data-dir="+t.TempDir(), "--listen-address=127.0.0.1", "--tcp-port=0",
		"--rest-port="+strconv.Itoa(restPort-7), "--metrics-server-port="+strconv.Itoa(metricsPort-7), "--ports-shift=7",
		"--log-format=json")
	if name := p.waitLog(15*time.Second, "environment variable names no setting; ignored (see --help)", "name"); name != "PEERMESH_TCP_PROT" {
		t.Fatalf("warned about %q", name)
	}
	if url := p.restURL(); url != "http://127.0.0.1:"+strconv.Itoa(restPort) {
		t.Fatalf("REST at %s, want port %d", url, restPort)
	}
	if url := p.metricsURL(); url != "http://127.0.0.1:"+strconv.Itoa(metricsPort) {
		t.Fatalf("metrics at %s, want port %d", url, metricsPort)
	}
}

// freeTCPPort is a port free on 127.0.0.1 a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestInvalidSettingsExit2NamingTheSetting(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("tcp-prot = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"not a number", nil, []string{"--tcp-port=sixty"}, "--tcp-port"},
		{"out of range", nil, []string{"--rest-port=99999"}, "--rest-port"},
		{"bad enum", nil, []string{"--log-format=xml"}, "--log-format"},
		{"bad multiaddr", nil, []string{"--staticnode=/ip4/1.2.3.4"}, "--staticnode"},
		{"bad key", nil, []string{"--nodekey=xyz"}, "--nodekey"},
		{"all-zero key", nil, []string{"--nodekey=" + strings.Repeat("0", 64)}, "--nodekey"},
		{"bad env", []string{"PEERMESH_MAX_CONNECTIONS=-3"}, nil, "--max-connections"},
		{"unknown file key", nil, []string{"--config-file=" + bad}, "tcp-prot"},
		{"unknown flag", nil, []string{"--tcp-prot=1"}, "tcp-prot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runBinary(t, c.env, c.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not name %s", stderr, c.want)
			}
		})
	}
}

// One process: the file sets three ports, the environment overrides two of
// them and a flag one; the servers listen where the precedence says.
func TestPrecedenceFlagEnvFileInAProcess(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.toml")
	toml := "rest-port = 1\nmetrics-server-port = 1\nlog-format = \"json\"\nprofile = \"waku\"\n"
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PEERMESH_CONFIG_FILE=" + file, "PEERMESH_REST_PORT=2", "PEERMESH_METRICS_SERVER_PORT=0"}
	p := startProc(t, env, "--data-dir="+filepath.Join(dir, "data"), "--listen-address=127.0.0.1", "--tcp-port=0", "--rest-port=0")
	// The flag (0: any port) beat the env (2) and the file (1) for REST; the
	// env (0) beat the file (1) for metrics; the file's log-format applies
	// (the log is JSON, or waitLog would find nothing).
	rest, metrics := p.restURL(), p.metricsURL()
	if strings.HasSuffix(rest, ":1") || strings.HasSuffix(rest, ":2") || strings.HasSuffix(metrics, ":1") {
		t.Fatalf("rest %s, metrics %s: precedence not applied", rest, metrics)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// The default run: key created in the data dir, peer id and /p2p/ addresses
// logged, REST and metrics served, SIGTERM exits 0 within 5 s, the key is
// kept for the next start.
func TestStartServeAndStopCleanly(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p := startProc(t, nil, baseArgs(data)...)
	id := p.peerID()
	if addr := p.addr(); !strings.Contains(addr, "/p2p/"+id) {
		t.Fatalf("logged address %s lacks /p2p/%s", addr, id)
	}
	rest, metrics := p.restURL(), p.metricsURL()
	if code, body := httpDo(t, "GET", rest+"/debug/v1/info", ""); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("info: %d %s", code, body)
	}
	if code, body := httpDo(t, "GET", rest+"/debug/v1/version", ""); code != 200 || !strings.HasPrefix(body, "v") {
		t.Fatalf("version: %d %s", code, body)
	}
	code, body := httpDo(t, "GET", metrics+"/metrics", "")
	for _, want := range []string{"go_goroutines", "process_cpu_seconds_total", "peermesh_node_topics", "waku_peers_dials", "peermesh_storage_pending_changes", "peermesh_rest_relay_cache_dropped_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics (%d) lack %s", code, want)
		}
	}
	for _, f := range []string{"nodekey", "peers.db"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("data dir: %v", err)
		}
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("graceful stop took %s, more than 5 s", d)
	}
	again := startProc(t, nil, baseArgs(data)...)
	if again.peerID() != id {
		t.Fatal("the node key was not kept in the data directory")
	}
	again.restURL()
	again.signal(syscall.SIGINT)
	if code := again.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
}

func TestBadPeerStoreFileFailsNamingThePath(t *testing.T) {
	data := t.TempDir()
	db := filepath.Join(data, "peers.db")
	if err := os.WriteFile(db, []byte("this is not a bbolt file, it is much too short and wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runBinary(t, nil, baseArgs(data)...)
	if code != 1 || !strings.Contains(stderr, db) {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

// TestCorruptPeerStoreMovedAsideOnRequest (reliability case F12): with
// --peer-store-move-corrupt a corrupt peers.db does not stop the node (by
// default it exits 1, which a supervisor turns into a restart loop): the file
// is renamed peers.db.corrupt-<time> with its bytes intact, the node starts
// with a new, empty store and still reaches its static node.
func TestCorruptPeerStoreMovedAsideOnRequest(t *testing.T) {
	dir := t.TempDir()
	a := startProc(t, nil, baseArgs(filepath.Join(dir, "a"))...)
	aAddr, aID := a.addr(), a.peerID()
	data := filepath.Join(dir, "b")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "peers.db")
	garbage := []byte("this is not a bbolt file, it is much too short and wrong")
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startProc(t, nil, append(baseArgs(data), "--peer-store-move-corrupt", "--staticnode="+aAddr)...)
	moved := b.waitLog(15*time.Second, "peer store is corrupt: moved aside, starting with an empty store (static nodes are still dialed)", "moved_to")
	if dir, name := filepath.Split(moved); filepath.Clean(dir) != data || !strings.HasPrefix(name, "peers.db.corrupt-") {
		t.Fatalf("moved to %q, want %s/peers.db.corrupt-<time>", moved, data)
	}
	if kept, err := os.ReadFile(moved); err != nil || !bytes.Equal(kept, garbage) {
		t.Fatalf("the corrupt file was not kept as it was: %q, %v", kept, err)
	}
	bREST := b.restURL()
	eventually(t, e2eWait, "B reaches its static node A", func() bool { return hasPeer(peers(t, bREST), aID, "Connected", "static") })
	if fi, err := os.Stat(db); err != nil || fi.Size() == int64(len(garbage)) {
		t.Fatalf("no new peer store in place of the corrupt one: %v, %v", fi, err)
	}
}

// hangRequest starts a POST whose body never arrives and returns once its
// handler is reading the body (the server's "100 Continue" says so): the
// request then holds a graceful HTTP shutdown open.
func hangRequest(t *testing.T, restURL string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(restURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST /relay/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "100 Continue") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	if _, err := conn.Write([]byte(`["/wa`)); err != nil {
		t.Fatal(err)
	}
}

// A client that never finishes its request cannot keep the node from
// stopping gracefully within 5 s.
func TestSlowClientDoesNotBlockGracefulStop(t *testing.T) {
	p := startProc(t, nil, baseArgs(filepath.Join(t.TempDir(), "data"))...)
	hangRequest(t, p.restURL())
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if d := time.Since(start); d > 5*time.Second || d < httpGrace {
		t.Fatalf("stop took %s; want the HTTP grace (%s) then a quick node stop", d, httpGrace)
	}
	p.waitLog(time.Second, "stopped cleanly", "level")
}

// While the graceful stop waits (here for a hanging request), a second
// signal exits at once with status 1.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := startProc(t, nil, baseArgs(filepath.Join(t.TempDir(), "data"))...)
	hangRequest(t, p.restURL())
	p.signal(syscall.SIGTERM)
	p.waitLog(5*time.Second, "stopping", "signal")
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 1 {
		t.Fatalf("exit %d after a second signal, want 1", code)
	}
	if d := time.Since(start); d >= httpGrace {
		t.Fatalf("exit took %s after the second signal; the graceful path would have taken %s", d, httpGrace)
	}
}
