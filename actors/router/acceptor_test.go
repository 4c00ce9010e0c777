package router

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// namedStream stands for a stream in install's bookkeeping, which only
// compares identities.
type namedStream struct {
	network.Stream
	name string
}

// TestAcceptorInstallKeepsNewest: when two streams of one peer return from
// the router in either order, the one that reached the handler last stays;
// the other is reset whichever finished first.
func TestAcceptorInstallKeepsNewest(t *testing.T) {
	const p = peer.ID("peer-a")
	older, newer := &namedStream{name: "older"}, &namedStream{name: "newer"}
	type step struct {
		in        inbound
		wantReset network.Stream
		wantKeep  bool
	}
	cases := []struct {
		name   string
		closed bool
		steps  []step
		want   network.Stream
	}{
		{name: "in arrival order", steps: []step{
			{inbound{older, 1}, nil, true},
			{inbound{newer, 2}, older, true},
		}, want: newer},
		{name: "router answered the newer first", steps: []step{
			{inbound{newer, 2}, nil, true},
			{inbound{older, 1}, older, false},
		}, want: newer},
		{name: "closed acceptor refuses", closed: true, steps: []step{
			{inbound{newer, 2}, newer, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &acceptor{current: map[peer.ID]inbound{}, closed: tc.closed}
			for i, st := range tc.steps {
				reset, keep := a.install(p, st.in)
				if reset != st.wantReset || keep != st.wantKeep {
					t.Fatalf("step %d: install(%v) = (%v, %v), want (%v, %v)", i, st.in.s, reset, keep, st.wantReset, st.wantKeep)
				}
			}
			got := a.current[p].s
			if got != tc.want {
				t.Fatalf("current stream %v, want %v", got, tc.want)
			}
		})
	}
}
