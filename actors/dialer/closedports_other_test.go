//go:build !unix

package dialer

import (
	"net"
	"testing"
)

// closedPorts binds n loopback ports and closes them again, so nothing
// listens on them when the test dials. Unlike the unix version the ports are
// not reserved: a parallel test may take one meanwhile.
func closedPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("bind loopback port: %v", err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		if err := l.Close(); err != nil {
			t.Fatalf("close loopback port: %v", err)
		}
	}
	return ports
}
