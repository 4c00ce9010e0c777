package session

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/peermesh/peermesh/internal/actorkit"
	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
	pubsubv1 "github.com/peermesh/peermesh/messages/pubsub/v1"
	"github.com/peermesh/peermesh/wire"
)

// InboundStream is what ServeInbound needs of a libp2p stream.
type InboundStream interface {
	io.Reader
	Reset() error
	Close() error
}

// RejectReason classifies a read error for the frame-rejection metric; ""
// means the stream simply ended or failed underneath us.
func RejectReason(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		return ""
	case errors.Is(err, wire.ErrFrameTooLarge):
		return "too_large"
	case errors.Is(err, wire.ErrVarintOverflow):
		return "varint_overflow"
	case errors.Is(err, wire.ErrLimitExceeded):
		return "limit"
	case errors.Is(err, wire.ErrMalformed):
		return "malformed"
	case errors.Is(err, wire.ErrTooManyEmptyFrames):
		return "empty_frames"
	case errors.Is(err, wire.ErrTruncated), errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	case errors.Is(err, errStalled):
		return "stalled"
	case errors.Is(err, errSessionGone):
		return "session_gone"
	case errors.Is(err, ErrPanicked):
		return "panic"
	}
	return ""
}

// OurFault reports whether a stream ended for reason because of us, not the
// peer: our session did not keep up ("stalled") or is gone
// ("session_gone"), or our reader panicked ("panic": a bug of ours until
// proven otherwise). Such a reset must never cost the peer a behaviour
// penalty (issue 11 item 8: our own overload for InboundSyncTimeout used to
// charge P7 to every peer).
func OurFault(reason string) bool {
	return reason == "stalled" || reason == "session_gone" || reason == "panic"
}

// PeerFault reports whether a stream ended for reason because the peer
// built a bad frame (oversized, undecodable, over the entry limits, too
// many empty frames): it costs the peer a behaviour penalty and counts
// towards Config.MaxBadFramesPerHeartbeat. A truncated frame does not (a
// connection that drops mid-frame looks the same), nor does our own fault
// (OurFault).
func PeerFault(reason string) bool {
	return reason != "" && reason != "truncated" && !OurFault(reason)
}

// ErrPanicked wraps a panic recovered in a stream goroutine (the inbound
// reader, the outbound writer): protoactor recovers panics only inside an
// actor's Receive, and a panic in any other goroutine would end the process
// (reliability case F8). The error text carries the panic value and stack.
var ErrPanicked = errors.New("stream goroutine panicked")

// recovered turns a recovered panic value into an ErrPanicked error with
// the stack of the panic.
func recovered(p any) error {
	return fmt.Errorf("%w: %v\n%s", ErrPanicked, p, debug.Stack())
}

// errStalled: the session did not answer an InboundSync in time.
var errStalled = errors.New("session did not keep up with the inbound stream")

// errSessionGone: the session stopped while the stream was open (our
// failure, or the peer's disconnect); the RPCs sent since went to dead
// letters, so the stream is reset and the peer, if still connected, opens a
// new one with a new hello.
var errSessionGone = errors.New("session stopped")

// ServeInbound reads RPC frames from an inbound stream until it ends and
// sends each to the session at to as an InboundRPC. A session that does not
// answer a barrier in time ("stalled") or has stopped ("session_gone")
// ends the stream too; see OurFault. It runs in the goroutine
// libp2p gave the stream handler. A bad frame (oversized length prefix,
// truncated frame, undecodable bytes, too many entries) resets the stream,
// is counted in libp2p_pubsub_frame_rejections_total{reason} and returned as
// an error; a clean end of stream returns nil. Either way the session is told
// with StreamFailed. A panic in the goroutine is recovered: the stream is
// reset, counted in libp2p_pubsub_stream_panics_total and reported as
// reason "panic" (ErrPanicked).
//
// Flow control: after every cfg.InboundWindow RPCs the reader sends an
// InboundSync request and, before sending more, waits for the answer to the
// previous one, so at most two windows wait in the session's mailbox and a
// slow session slows the peer down through TCP instead of growing memory.
//
// With in.Inspect set, every published message is checked while it is still
// a view into the frame buffer (wire.WithMessageFilter): its id is computed
// there, and a copy whose id in.Known reports as seen is not copied out of
// the frame; only its topic and id go on (InboundRPC.known, ADR 0027).
func ServeInbound(root *actor.RootContext, to *actor.PID, st InboundStream, streamID uint64, cfg Config, m *Metrics, in InboundDeps) (err error) {
	// A panic in this goroutine (a decoder bug, a stream implementation's)
	// would take the process down: it ends this stream only, the session
	// learns it as any failed stream (reason "panic"), and it is counted.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("inbound stream %d: %w", streamID, recovered(p))
			root.Send(to, &pubsubv1.StreamFailed{Stream: streamID, Error: err.Error(), RejectReason: "panic"})
			_ = st.Reset()
			m.Panicked("inbound")
		}
	}()
	var check frameCheck
	opts := []wire.ReaderOption{wire.WithLimits(cfg.Limits)}
	if in.Inspect != nil {
		check.in = in
		opts = append(opts, wire.WithMessageFilter(check.filter))
	}
	r := wire.NewReader(st, cfg.MaxFrame, opts...)
	var pending *actorkit.Pending // the barrier of the previous window
	sent := 0
	for {
		rpc := &gossipsubv1.RPC{}
		err = r.ReadRPC(rpc)
		ids, known := check.take()
		if err == nil {
			m.knownCopiesRead(len(known))
			root.Send(to, &pubsubv1.InboundRPC{Rpc: rpc, Stream: streamID, Ids: ids, Known: known})
			if sent++; sent%cfg.InboundWindow == 0 {
				next := actorkit.Request(root, to, &pubsubv1.InboundSync{Stream: streamID}, cfg.InboundSyncTimeout)
				if pending != nil {
					if _, err = pending.Result(); errors.Is(err, actor.ErrDeadLetter) {
						err = fmt.Errorf("%w: %w", errSessionGone, err)
					} else if err != nil {
						err = fmt.Errorf("%w: %w", errStalled, err)
					}
				}
				pending = next
			}
			if err == nil {
				continue
			}
		}
		reason := RejectReason(err)
		root.Send(to, &pubsubv1.StreamFailed{Stream: streamID, Error: err.Error(), RejectReason: reason})
		if reason == "" && errors.Is(err, io.EOF) {
			_ = st.Close()
			return nil
		}
		_ = st.Reset()
		if reason != "" {
			m.FrameRejected(reason)
		}
		return fmt.Errorf("inbound stream %d: %w", streamID, err)
	}
}

// KnownFunc reports whether the node's topic actor of topic holds id in its
// seen cache (mesh.KnownIDs.Has). It must be safe for concurrent use.
type KnownFunc func(topic string, id []byte) bool

// InboundDeps are what ServeInbound needs to check messages while they are
// views into the frame buffer. The zero value checks nothing there: every
// message is copied out and the session checks it.
type InboundDeps struct {
	// Inspect is the sessions' InspectFunc.
	Inspect InspectFunc
	// Known, when set, lets the reader drop the bodies of copies of
	// messages the node has already seen.
	Known KnownFunc
}

// frameCheck is the reader's message filter: it collects, per frame, the
// ids of the messages kept and the known copies dropped.
type frameCheck struct {
	in    InboundDeps
	ids   [][]byte
	known []*pubsubv1.KnownCopy
}

// filter runs in ReadRPC on a view of each published message; it keeps
// nothing of the view (Inspect returns a fresh id, the topic string is the
// decoder's own).
func (f *frameCheck) filter(msg *gossipsubv1.Message) bool {
	id, err := f.in.Inspect(msg)
	if err != nil {
		// Kept without id: the session refuses it again and charges it
		// (InvalidMessagesReceived), as without the check.
		f.ids = append(f.ids, nil)
		return true
	}
	if t := msg.GetTopic(); f.in.Known != nil && f.in.Known(t, id) {
		f.known = append(f.known, &pubsubv1.KnownCopy{Topic: t, Id: id})
		return false
	}
	f.ids = append(f.ids, id)
	return true
}

// take returns what the filter collected for the frame just read and
// starts afresh (what was taken is sent, never touched again).
func (f *frameCheck) take() (ids [][]byte, known []*pubsubv1.KnownCopy) {
	ids, known = f.ids, f.known
	f.ids, f.known = nil, nil
	return ids, known
}
