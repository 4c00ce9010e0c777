//go:build unix

package dialer

import (
	"syscall"
	"testing"
)

// closedPorts reserves n loopback ports on which nothing listens, until the
// test ends. Each is a TCP socket bound but never put in the listening state:
// the kernel answers a connection attempt with a reset (connection refused),
// and no other process or test can bind the port meanwhile. Binding and
// closing a port instead left it free for the many listeners of tests running
// in parallel on a loaded machine; a dial that met one of them was no longer
// a dial to a closed port.
func closedPorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatalf("reserve loopback port: socket: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Close(fd) })
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatalf("reserve loopback port: bind: %v", err)
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			t.Fatalf("reserve loopback port: getsockname: %v", err)
		}
		ports = append(ports, sa.(*syscall.SockaddrInet4).Port)
	}
	return ports
}
