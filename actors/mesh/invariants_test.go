package mesh

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// checkInvariants verifies what must hold after any sequence of inputs.
func checkInvariants(t *testing.T, tp *Topic, afterHeartbeat bool) {
	t.Helper()
	inMesh := 0
	for _, ps := range tp.mesh {
		if !ps.inMesh || !ps.subscribed || ps.Direct || ps.inFanout {
			t.Fatalf("mesh peer %s: inMesh %v subscribed %v direct %v fanout %v", string(ps.ID), ps.inMesh, ps.subscribed, ps.Direct, ps.inFanout)
		}
		if afterHeartbeat && ps.Score < 0 {
			t.Fatalf("negative peer %s in the mesh after a heartbeat", string(ps.ID))
		}
		inMesh++
	}
	for _, ps := range tp.fanout {
		if !ps.inFanout || !ps.subscribed {
			t.Fatalf("fanout peer %s inconsistent", string(ps.ID))
		}
	}
	flagged, direct := 0, 0
	for _, ps := range tp.peers {
		if ps.inMesh {
			flagged++
		}
		if ps.subscribed && ps.Direct {
			direct++
		}
		if !ps.subscribed && (ps.inMesh || ps.inFanout) {
			t.Fatalf("departed peer %s still meshed", string(ps.ID))
		}
	}
	if flagged != inMesh || direct != tp.nDirect {
		t.Fatalf("flags %d vs mesh %d; direct %d vs %d", flagged, inMesh, direct, tp.nDirect)
	}
	if !tp.joined && inMesh > 0 {
		t.Fatal("mesh while not joined")
	}
	if afterHeartbeat && tp.joined && inMesh > tp.cfg.Dhi {
		t.Fatalf("mesh %d above Dhi after a heartbeat", inMesh)
	}
	c := tp.cfg
	if len(tp.peers) > c.MaxPeers || tp.backoff.len() > c.MaxBackoff || tp.seen.bytes > c.MaxSeenBytes ||
		tp.mcache.len() > c.MaxCachedMessages || tp.seen.pending > c.MaxPendingValidations ||
		tp.promises.len() > c.MaxPromises || tp.seen.pending < 0 {
		t.Fatalf("a bound is exceeded: %+v", tp.Stats())
	}
}

// FuzzTopic drives a Topic with an arbitrary sequence of inputs decoded from
// bytes and checks the invariants after every step.
func FuzzTopic(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte("GRAFT PRUNE IHAVE IWANT heartbeat heartbeat publish"))
	f.Add([]byte{12, 0, 0, 1, 0, 2, 0, 3, 12, 12, 9, 9, 9, 12, 5, 5, 5, 5})
	f.Fuzz(runOps)
}

// runOps decodes ops two bytes at a time (operation, argument) into inputs
// for one Topic with small bounds, checking the invariants after each.
func runOps(t *testing.T, ops []byte) {
	{
		cfg := testConfig()
		cfg.MaxPeers, cfg.MaxBackoff, cfg.MaxSeenBytes, cfg.MaxCachedMessages = 12, 6, 20*(seenEntryBytes+8), 10
		cfg.MaxPendingValidations, cfg.MaxPromises = 4, 8
		tp := newTopic(t, cfg)
		now := t0
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%14, int(ops[i+1])
			p := pid(arg % 16)
			id := MessageID(fmt.Sprint("m", arg%24))
			hb := false
			switch op {
			case 0:
				tp.AddPeer(now, PeerAttrs{ID: p, Outbound: arg&16 != 0, Direct: arg%29 == 0, Score: float64(arg%7) - 2,
					Features: Features{PX: true, IDontWant: arg&32 != 0}})
			case 1:
				tp.RemovePeer(now, p)
			case 2:
				tp.SetScore(p, float64(arg%9)-3)
			case 3:
				tp.HandleGraft(now, p)
			case 4:
				b := uint64(arg % 90)
				tp.HandlePrune(now, p, &gossipsubv1.ControlPrune{Backoff: &b, Peers: []*gossipsubv1.PeerInfo{{PeerID: []byte(p)}}})
			case 5:
				tp.HandleIHave(now, p, [][]byte{[]byte(id), []byte("x" + id)}, arg%4)
			case 6:
				tp.HandleIWant(now, p, [][]byte{[]byte(id)})
			case 7:
				tp.HandleIDontWant(now, p, [][]byte{[]byte(id)})
			case 8:
				tp.HandleMessage(now, p, id, &gossipsubv1.Message{Data: make([]byte, arg*8)})
			case 9:
				tp.HandleValidated(now, id, ValidationResult(arg%3+1))
			case 10:
				tp.Publish(now, id, &gossipsubv1.Message{})
			case 11:
				if arg%2 == 0 {
					tp.Join(now)
				} else {
					tp.Leave(now)
				}
			case 12:
				now = now.Add(time.Duration(arg%20) * 500 * time.Millisecond)
				tp.Heartbeat(now)
				hb = true
			case 13:
				tp.RebalanceMesh(now)
			}
			checkInvariants(t, tp, hb)
		}
	}
}

// TestRandomInputsKeepInvariants runs long seeded random walks through
// runOps, so the invariants are exercised by every `go test`.
func TestRandomInputsKeepInvariants(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		ops := make([]byte, 4000)
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runOps(t, ops) })
	}
}
