package mplex

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// ID is mplex's protocol id.
const ID = "/mplex/6.7.0"

// Frame flags. Odd flags come from a stream's receiver, even ones from its
// initiator.
const (
	flagNewStream        = 0
	flagMessageReceiver  = 1
	flagMessageInitiator = 2
	flagCloseReceiver    = 3
	flagCloseInitiator   = 4
	flagResetReceiver    = 5
	flagResetInitiator   = 6
)

// Transport builds mplex connections; its fields bound each of them.
type Transport struct {
	// MaxMessageSize bounds one frame's data (1 MiB in go-mplex and
	// js-libp2p); larger incoming frames end the connection.
	MaxMessageSize int
	// MaxStreamBuffer bounds a stream's unread bytes.
	MaxStreamBuffer int
	// ReceiveTimeout is how long the connection's reader waits for room in
	// a full stream buffer before resetting that stream.
	ReceiveTimeout time.Duration
	// MaxStreams bounds the open streams of a connection.
	MaxStreams int
	// AcceptBacklog bounds the inbound streams waiting for AcceptStream;
	// beyond it the connection's reader waits up to ReceiveTimeout, then
	// resets the new stream.
	AcceptBacklog int
	// WriteQueue bounds the frames waiting for the connection's writer.
	WriteQueue int
}

// DefaultTransport has go-mplex's sizes.
var DefaultTransport = &Transport{
	MaxMessageSize:  1 << 20,
	MaxStreamBuffer: 4 << 20,
	ReceiveTimeout:  5 * time.Second,
	MaxStreams:      1024,
	AcceptBacklog:   256,
	WriteQueue:      256,
}

var _ network.Multiplexer = (*Transport)(nil)

// ErrClosed is returned once the connection is closed.
var ErrClosed = errors.New("mplex: connection closed")

// NewConn starts multiplexing nc. isServer does not matter to mplex (both
// sides open streams from their own id space); scope is not charged.
func (t *Transport) NewConn(nc net.Conn, _ bool, _ network.PeerScope) (network.MuxedConn, error) {
	c := &conn{
		t: t, nc: nc, streams: map[key]*stream{},
		accept:   make(chan *stream, t.AcceptBacklog),
		out:      make(chan frame, t.WriteQueue),
		done:     make(chan struct{}),
		ctlReady: make(chan struct{}, 1),
	}
	go c.readLoop()
	go c.writeLoop()
	return c, nil
}

// key names a stream: its id and whether we initiated it.
type key struct {
	id    uint64
	local bool
}

type frame struct {
	k    key
	flag uint64
	data []byte
	// sent, when set, receives the write's result.
	sent chan error
}

// header is the frame's first varint: id << 3 | flag, the flag taken from
// our side of the stream (initiator flags for local streams).
func (f frame) header() uint64 {
	flag := f.flag
	if !f.k.local && flag != flagNewStream {
		flag-- // the receiver's flag of each pair is one less
	}
	return f.k.id<<3 | flag
}

type conn struct {
	t  *Transport
	nc net.Conn

	mu      sync.Mutex
	streams map[key]*stream
	nextID  uint64
	closed  bool
	err     error

	accept chan *stream
	out    chan frame
	done   chan struct{}
	once   sync.Once

	// ctl holds control frames (close, reset) waiting for the writer,
	// which sends them before data. They are never dropped (a lost close
	// leaves the peer's reader waiting forever) and never block (the
	// connection's reader sends resets); each stream makes at most two, so
	// a queue beyond 4 × MaxStreams means a peer churning streams faster
	// than we can answer, and ends the connection.
	ctlMu    sync.Mutex
	ctl      []frame
	ctlReady chan struct{}
}

func (c *conn) Close() error {
	c.shutdown(ErrClosed)
	return nil
}

func (c *conn) CloseWithError(network.ConnErrorCode) error { return c.Close() }

func (c *conn) IsClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) As(any) bool { return false }

// shutdown closes the connection once: every stream is reset.
func (c *conn) shutdown(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed, c.err = true, err
		streams := c.streams
		c.streams = map[key]*stream{}
		c.mu.Unlock()
		close(c.done)
		_ = c.nc.Close()
		for _, s := range streams {
			s.resetLocal(false)
		}
	})
}

func (c *conn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if len(c.streams) >= c.t.MaxStreams {
		c.mu.Unlock()
		return nil, fmt.Errorf("mplex: %d streams open, the most a connection may have", c.t.MaxStreams)
	}
	k := key{id: c.nextID, local: true}
	c.nextID++
	s := newStream(c, k)
	c.streams[k] = s
	c.mu.Unlock()
	// Awaited, not only queued: the writer sends control frames (close,
	// reset) before queued data, so a close or reset of this stream must not
	// be able to overtake its opening.
	if err := c.send(ctx.Done(), time.Time{}, frame{k: k, flag: flagNewStream, data: []byte(strconv.FormatUint(k.id, 10))}); err != nil {
		c.remove(k)
		return nil, err
	}
	return s, nil
}

func (c *conn) AcceptStream() (network.MuxedStream, error) {
	select {
	case s := <-c.accept:
		return s, nil
	case <-c.done:
		return nil, c.err
	}
}

func (c *conn) remove(k key) {
	c.mu.Lock()
	delete(c.streams, k)
	c.mu.Unlock()
}

func (c *conn) lookup(k key) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[k]
}

// send queues f for the writer and waits until it is written, the
// deadline passes (os.ErrDeadlineExceeded), cancel closes, or the
// connection ends.
func (c *conn) send(cancel <-chan struct{}, deadline time.Time, f frame) error {
	f.sent = make(chan error, 1)
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		timeout = timer.C
	}
	if err := c.queue(cancel, timeout, f); err != nil {
		return err
	}
	select {
	case err := <-f.sent:
		return err
	case <-c.done:
		return c.err
	}
}

// queue hands f to the writer, waiting for room in its queue until timeout
// fires (os.ErrDeadlineExceeded), cancel closes or the connection ends.
func (c *conn) queue(cancel <-chan struct{}, timeout <-chan time.Time, f frame) error {
	select {
	case c.out <- f:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-cancel:
		return context.Canceled
	case <-c.done:
		return c.err
	}
}

// sendControl queues a control frame (close, reset) for the writer.
func (c *conn) sendControl(f frame) {
	c.ctlMu.Lock()
	if len(c.ctl) >= 4*c.t.MaxStreams {
		c.ctlMu.Unlock()
		c.shutdown(fmt.Errorf("mplex: more than %d control frames waiting", 4*c.t.MaxStreams))
		return
	}
	c.ctl = append(c.ctl, f)
	c.ctlMu.Unlock()
	select {
	case c.ctlReady <- struct{}{}:
	default:
	}
}

// writeBatch bounds the bytes the writer collects before it flushes: one
// write syscall carries many small frames (a stream's open, close and reset
// are a few bytes each) instead of one syscall per frame.
const writeBatch = 64 << 10

// writeLoop writes queued frames, control frames first, batching whatever is
// already queued into one write; each frame's sender learns the result of the
// flush that carried it.
func (c *conn) writeLoop() {
	w := bufio.NewWriterSize(c.nc, writeBatch)
	hdr := make([]byte, 0, 2*binary.MaxVarintLen64)
	var waiting []chan error
	put := func(f frame) {
		hdr = binary.AppendUvarint(hdr[:0], f.header())
		hdr = binary.AppendUvarint(hdr, uint64(len(f.data)))
		// A write error sticks in the bufio.Writer: Flush reports it.
		_, _ = w.Write(hdr)
		_, _ = w.Write(f.data)
		if f.sent != nil {
			waiting = append(waiting, f.sent)
		}
	}
	takeControl := func() int {
		c.ctlMu.Lock()
		ctl := c.ctl
		c.ctl = nil
		c.ctlMu.Unlock()
		for _, f := range ctl {
			put(f)
		}
		return len(ctl)
	}
	for {
		// Collect what is queued now, without waiting, up to writeBatch.
		for w.Buffered() < writeBatch {
			n := takeControl()
			select {
			case f := <-c.out:
				put(f)
				continue
			default:
			}
			if n == 0 {
				break
			}
		}
		if w.Buffered() > 0 || len(waiting) > 0 {
			err := w.Flush()
			for _, ch := range waiting {
				ch <- err
			}
			waiting = waiting[:0]
			if err != nil {
				c.shutdown(fmt.Errorf("mplex: write: %w", err))
				return
			}
		}
		select {
		case f := <-c.out:
			put(f)
		case <-c.ctlReady:
		case <-c.done:
			return
		}
	}
}

func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, 32<<10)
	for {
		h, err := binary.ReadUvarint(r)
		if err != nil {
			c.shutdown(readErr(err))
			return
		}
		n, err := binary.ReadUvarint(r)
		if err != nil {
			c.shutdown(readErr(err))
			return
		}
		if n > uint64(c.t.MaxMessageSize) {
			c.shutdown(fmt.Errorf("mplex: frame of %d bytes, more than %d", n, c.t.MaxMessageSize))
			return
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			c.shutdown(readErr(err))
			return
		}
		flag := h & 7
		// Frames from the stream's initiator (even flags) are about a stream
		// the peer opened: not ours.
		k := key{id: h >> 3, local: flag%2 == 1}
		if !c.dispatch(k, flag, data) {
			return
		}
	}
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return ErrClosed
	}
	return fmt.Errorf("mplex: read: %w", err)
}

// dispatch handles one frame; false ends the reader.
func (c *conn) dispatch(k key, flag uint64, data []byte) bool {
	switch flag {
	case flagNewStream:
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return false
		}
		if c.streams[k] != nil || len(c.streams) >= c.t.MaxStreams {
			c.mu.Unlock()
			c.sendControl(frame{k: k, flag: flagResetInitiator})
			return true
		}
		s := newStream(c, k)
		c.streams[k] = s
		c.mu.Unlock()
		select {
		case c.accept <- s: // the common case: room in the backlog, no timer
			return true
		default:
		}
		// Back-pressure as for data: wait for AcceptStream a while, then
		// refuse the stream.
		t := time.NewTimer(c.t.ReceiveTimeout)
		select {
		case c.accept <- s:
		case <-t.C:
			s.Reset() // nobody accepts streams fast enough
		case <-c.done:
		}
		t.Stop()
	case flagMessageReceiver, flagMessageInitiator:
		if s := c.lookup(k); s != nil {
			s.push(data, c.t.MaxStreamBuffer, c.t.ReceiveTimeout, c.done)
		}
	case flagCloseReceiver, flagCloseInitiator:
		if s := c.lookup(k); s != nil {
			s.remoteClose()
		}
	case flagResetReceiver, flagResetInitiator:
		if s := c.lookup(k); s != nil {
			c.remove(k)
			s.resetLocal(true)
		}
	default:
		c.shutdown(fmt.Errorf("mplex: unknown flag %d", flag))
		return false
	}
	return true
}
