package wire

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// Small constructors keep the tables readable.
func str(s string) *string { return &s }
func boolp(b bool) *bool   { return &b }
func u64(v uint64) *uint64 { return &v }
func sub(topic string, on bool) *gossipsubv1.SubOpts {
	return &gossipsubv1.SubOpts{Subscribe: boolp(on), Topicid: str(topic)}
}

func graftRPC(topics ...string) *gossipsubv1.RPC {
	c := &gossipsubv1.ControlMessage{}
	for _, t := range topics {
		c.Graft = append(c.Graft, &gossipsubv1.ControlGraft{TopicID: str(t)})
	}
	return &gossipsubv1.RPC{Control: c}
}

// assertRPC fails the test with a readable diff when got != want.
func assertRPC(t testing.TB, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("rpc mismatch (-want +got):\n%s", cmp.Diff(want, got, protocmp.Transform()))
	}
}

// mustFrame encodes rpc as one frame.
func mustFrame(t testing.TB, rpc *gossipsubv1.RPC) []byte {
	t.Helper()
	b, err := AppendFrame(nil, rpc)
	if err != nil {
		t.Fatalf("AppendFrame: %v", err)
	}
	return b
}
