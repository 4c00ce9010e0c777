package mplex

import (
	"testing"

	testsuite "github.com/libp2p/go-libp2p/p2p/muxer/testsuite"
)

// go-libp2p's conformance suite for stream multiplexers (what its yamux
// adapter passes): simple writes, stress with many connections, streams and
// 10 MB messages, resets, close semantics, streams left open.
func TestMuxerConformance(t *testing.T) {
	testsuite.SubtestAll(t, DefaultTransport)
}
