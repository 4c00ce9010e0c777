package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	msmux "github.com/multiformats/go-multistream"

	dialerv1 "github.com/peermesh/peermesh/messages/dialer/v1"
)

// TestClassify has one row per rule of Classify.
func TestClassify(t *testing.T) {
	refusedOp := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	rows := []struct {
		name   string
		err    error
		ctxErr error
		want   dialerv1.DialOutcome
	}{
		{"no error is CONNECTED", nil, nil, connected},
		{"the context deadline is TIMEOUT", fmt.Errorf("connect: %w", context.DeadlineExceeded), nil, timedOut},
		{"an expired context decides even when the error hides it", errors.New("all dials failed"), context.DeadlineExceeded, timedOut},
		{"a net timeout is TIMEOUT", &net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, nil, timedOut},
		{"a cancelled context is CANCELLED", fmt.Errorf("connect: %w", context.Canceled), context.Canceled, dialerv1.DialOutcome_DIAL_OUTCOME_CANCELLED},
		{"connection refused is REFUSED", fmt.Errorf("connect: %w", refusedOp), nil, refused},
		{"connection refused inside a swarm dial error is REFUSED",
			&swarm.DialError{DialErrors: []swarm.TransportError{{Cause: refusedOp}}}, nil, refused},
		{"protocol not supported (ours) is REFUSED", fmt.Errorf("stream: %w", ErrProtocolNotSupported), nil, refused},
		{"protocol negotiation failed (multistream) is REFUSED",
			fmt.Errorf("failed to negotiate protocol: %w", msmux.ErrNotSupported[protocol.ID]{Protos: []protocol.ID{"/x"}}), nil, refused},
		{"no route from the local network is UNREACHABLE",
			&swarm.DialError{DialErrors: []swarm.TransportError{{Cause: &net.OpError{Op: "dial", Net: "tcp",
				Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}}}}, nil, dialerv1.DialOutcome_DIAL_OUTCOME_UNREACHABLE},
		{"a handshake reset by the peer (an inbound flood at its end) is FAILED: counted, retried after backoff",
			&swarm.DialError{DialErrors: []swarm.TransportError{{Cause: &net.OpError{Op: "read", Net: "tcp",
				Err: os.NewSyscallError("read", syscall.ECONNRESET)}}}}, nil, failed},
		{"anything else is FAILED", errors.New("no good addresses"), nil, failed},
		{"a swarm dial error without a refusal is FAILED", &swarm.DialError{Cause: swarm.ErrNoAddresses}, nil, failed},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			got, reason := Classify(row.err, row.ctxErr)
			if got != row.want {
				t.Fatalf("Classify(%v, %v) = %v, want %v", row.err, row.ctxErr, got, row.want)
			}
			if (row.err == nil) != (reason == "") {
				t.Fatalf("reason %q: want a reason exactly when there is an error", reason)
			}
		})
	}
}

func TestClassifyKeepsReasonsShortAndOnOneLine(t *testing.T) {
	long := errors.New("failed to dial:\n  * [/ip4/1.2.3.4/tcp/1] " + strings.Repeat("é", 600))
	_, reason := Classify(long, nil)
	if strings.Contains(reason, "\n") || len(reason) > maxReasonLen+len("…") {
		t.Fatalf("reason has %d bytes or a newline: %q", len(reason), reason)
	}
	if !strings.HasPrefix(reason, "failed to dial: * [/ip4/1.2.3.4/tcp/1]") {
		t.Fatalf("reason lost its start: %q", reason[:40])
	}
}
