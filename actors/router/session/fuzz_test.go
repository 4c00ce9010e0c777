package session

import (
	"testing"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// FuzzSessionState feeds RPCs decoded from arbitrary bytes to the per-peer
// state as a session would (IHAVE budget, IWANT routing, IDONTWANT, and the
// same RPC enqueued outbound) and checks the bounds hold: no panic, the queue
// within its byte limit, the sets within their caps.
func FuzzSessionState(f *testing.F) {
	for _, rpc := range []*gossipsubv1.RPC{
		{Control: &gossipsubv1.ControlMessage{Ihave: []*gossipsubv1.ControlIHave{ihave("t", "a", "b")}}},
		{Control: &gossipsubv1.ControlMessage{Iwant: []*gossipsubv1.ControlIWant{{MessageIDs: ids("a")}}, Idontwant: idontwant("a", "b")}},
		{Publish: []*gossipsubv1.Message{testMsg(1, 10)}, Control: graft("t")},
	} {
		b, _ := wire.AppendFrame(nil, rpc)
		f.Add(b[1:]) // the body; one-byte length prefix for these small seeds
	}
	cfg := DefaultConfig()
	cfg.MaxQueueBytes = 64 << 10
	cfg.MaxIDontWant = 100
	cfg.MaxAdvertised = 100
	f.Fuzz(func(t *testing.T, body []byte) {
		rpc := &gossipsubv1.RPC{}
		if err := wire.DecodeRPC(body, rpc, cfg.Limits); err != nil {
			return
		}
		s := NewState(cfg)
		for round := range 3 {
			ctrl := rpc.GetControl()
			s.AcceptIHave(ctrl.GetIhave())
			s.RouteIWant(ctrl.GetIwant(), map[string][][]byte{})
			s.HandleIDontWant(ctrl.GetIdontwant())
			cmd := &pubsubv1.SendToPeer{Priority: pubsubv1.Priority(round + 1), Subscriptions: rpc.GetSubscriptions(), Control: ctrl}
			for i, m := range rpc.GetPublish() {
				cmd.Messages = append(cmd.Messages, &pubsubv1.IdentifiedMessage{Id: []byte{byte(i), byte(round)}, Message: m})
			}
			s.Enqueue(cmd, round%2 == 0)
			if s.Queue.Bytes() > cfg.MaxQueueBytes {
				t.Fatalf("queue holds %d bytes, limit %d", s.Queue.Bytes(), cfg.MaxQueueBytes)
			}
			if len(s.dontWant) > cfg.MaxIDontWant || len(s.advertised) > cfg.MaxAdvertised {
				t.Fatalf("sets over their caps: %d %d", len(s.dontWant), len(s.advertised))
			}
			s.Queue.PopBatch(&gossipsubv1.RPC{}, cfg.MaxFrame)
			s.Heartbeat()
		}
	})
}
