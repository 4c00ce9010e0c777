package heal

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/proctest"
)

// binary is cmd/node, built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "peermesh-heal")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = proctest.Build(dir, "../../cmd/node"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// node is one cmd/node process.
type node struct {
	*proctest.Proc
	t *testing.T
}

// start runs cmd/node on loopback: its own data directory, the given TCP
// port (0: any), REST on a free port, no metrics server, JSON logs, and no
// colocation limit (every node is at 127.0.0.1); extra settings follow.
func start(t *testing.T, name string, tcpPort int, extra ...string) *node {
	t.Helper()
	args := append([]string{"--data-dir=" + t.TempDir(), "--listen-address=127.0.0.1", fmt.Sprintf("--tcp-port=%d", tcpPort),
		"--rest-port=0", "--rest-admin=true", "--metrics-server=false", "--log-format=json", "--log-level=info", "--ip-colocation-limit=0"}, extra...)
	return &node{Proc: proctest.Start(t, name, binary, args...), t: t}
}

// addr is the node's loopback multiaddr with /p2p/.
func (n *node) addr() string { return n.Await(30*time.Second, "listening", "multiaddr") }

// get decodes the node's REST answer to GET path.
func (n *node) get(path string, out any) error {
	return proctest.GetJSON(n.Await(30*time.Second, "rest server listening", "url")+path, out)
}

// peer is the part of /admin/v1/peers these tests read.
type peer struct {
	PeerID    string   `json:"peerId"`
	Protocols []string `json:"protocols"`
	Connected string   `json:"connected"`
	Direction string   `json:"direction"`
	Origin    string   `json:"origin"`
}

// peers is the node's GET /admin/v1/peers (nil on an error: callers poll).
func (n *node) peers() []peer {
	var ps []peer
	if err := n.get("/admin/v1/peers", &ps); err != nil {
		n.t.Logf("%v", err)
		return nil
	}
	return ps
}

// connected counts the node's connected peers in direction ("" any) that
// list protocol ("" any).
func (n *node) connected(direction, protocol string) int {
	c := 0
	for _, p := range n.peers() {
		if p.Connected == "Connected" && (direction == "" || p.Direction == direction) &&
			(protocol == "" || slices.Contains(p.Protocols, protocol)) {
			c++
		}
	}
	return c
}
