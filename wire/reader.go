package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	pool "github.com/libp2p/go-buffer-pool"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

const (
	// readBufferSize is the bufio buffer in front of the stream: large enough
	// that a burst of small frames (control, a few messages) costs one read
	// call; a larger frame's body is read past it straight into the frame
	// buffer. Every inbound stream holds one for its whole life, so it is
	// heap per peer: 16 KiB was 4 % of the live heap of M1 at 250 msg/s.
	readBufferSize = 4 << 10
	// minGrow is the first allocation for a frame body the retained buffer
	// cannot hold; the buffer then at most doubles per read, so memory tracks
	// the bytes actually received, not the declared length.
	minGrow = 4 << 10
	// DefaultRetainBuffer is the largest frame buffer a Reader keeps between
	// frames read with ReadFrame (ReadRPC keeps none: its frame buffer goes
	// back to the pool as soon as the frame is decoded). Larger buffers (up
	// to the frame limit) go back to the pool after use so that thousands of
	// idle peers do not each pin a 1 MiB buffer.
	DefaultRetainBuffer = 64 << 10
	// DefaultMaxEmptyFrames bounds consecutive zero-length frames skipped in
	// one ReadFrame call.
	DefaultMaxEmptyFrames = 64
)

// Reader reads length-prefixed RPC frames from a stream. It is not safe for
// concurrent use; one goroutine reads one stream.
type Reader struct {
	br        *bufio.Reader
	maxFrame  int
	limits    Limits
	maxEmpty  int
	retainCap int
	buf       []byte
	topics    topicCache
	filter    *viewFilter
}

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// WithLimits sets the per-RPC decode limits (zero fields keep their defaults).
func WithLimits(l Limits) ReaderOption {
	return func(r *Reader) { r.limits = l.normalized() }
}

// WithMaxEmptyFrames sets how many consecutive zero-length frames one
// ReadFrame call skips before failing with ErrTooManyEmptyFrames.
func WithMaxEmptyFrames(n int) ReaderOption {
	return func(r *Reader) { r.maxEmpty = n }
}

// WithRetainBuffer sets the largest frame buffer kept between frames.
func WithRetainBuffer(n int) ReaderOption {
	return func(r *Reader) { r.retainCap = n }
}

// WithMessageFilter makes ReadRPC show every published message to f before
// copying it out of the frame: a message f drops is never copied (a
// duplicate costs its parse and whatever f computes, not an allocation of
// its size). See MessageFilter for what f may keep.
func WithMessageFilter(f MessageFilter) ReaderOption {
	return func(r *Reader) {
		if f != nil {
			r.filter = &viewFilter{fn: f}
		}
	}
}

// NewReader returns a Reader of frames of at most maxFrame bytes (the length
// prefix excluded); maxFrame <= 0 means MaxFrameDefault. If r is already a
// *bufio.Reader of sufficient size it is used directly.
//
// The Reader bounds memory and work per frame, not time: a peer that stops
// sending blocks ReadRPC until the caller's stream deadline or reset.
func NewReader(r io.Reader, maxFrame int, opts ...ReaderOption) *Reader {
	if maxFrame <= 0 {
		maxFrame = MaxFrameDefault
	}
	rd := &Reader{
		br:        bufio.NewReaderSize(r, readBufferSize),
		maxFrame:  maxFrame,
		limits:    DefaultLimits(),
		maxEmpty:  DefaultMaxEmptyFrames,
		retainCap: DefaultRetainBuffer,
	}
	for _, o := range opts {
		o(rd)
	}
	return rd
}

// ReadRPC reads the next non-empty frame and decodes it into dst (reset
// first). At a clean end of stream between frames it returns io.EOF itself;
// every other failure wraps one of the package's sentinel errors or the
// stream's own error. After an error the stream should be reset: the reader
// does not resynchronise.
func (r *Reader) ReadRPC(dst *gossipsubv1.RPC) error {
	b, err := r.ReadFrame()
	if err != nil {
		return err
	}
	err = decodeRPC(b, dst, r.limits, &r.topics, r.filter)
	// The decoded RPC does not alias the frame (the message filter saw
	// views into it and must not have kept them): the buffer goes back to
	// the pool now rather than at the next frame, since the reader then blocks,
	// often for long, on an idle stream; a busy reader takes it back at
	// once (ADR 0021).
	r.release(0)
	return err
}

// release gives the frame buffer back to the pool if it is larger than keep.
func (r *Reader) release(keep int) {
	if r.buf != nil && cap(r.buf) > keep {
		if poisonReleased != nil {
			poisonReleased(r.buf[:cap(r.buf)])
		}
		pool.Put(r.buf)
		r.buf = nil
	}
}

// poisonReleased, set only by tests, overwrites a frame buffer as it goes
// back to the pool, so that anything still aliasing it shows.
var poisonReleased func([]byte)

// ReadFrame returns the body of the next non-empty frame. The slice is valid
// only until the next call; use it to relay or hash a frame without decoding.
func (r *Reader) ReadFrame() ([]byte, error) {
	r.release(r.retainCap)
	for empty := 0; ; empty++ {
		n, err := r.readLength()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			// Skipped like go-libp2p-pubsub does, but not forever.
			if empty >= r.maxEmpty {
				return nil, fmt.Errorf("%w: more than %d", ErrTooManyEmptyFrames, r.maxEmpty)
			}
			continue
		}
		if n > uint64(r.maxFrame) {
			return nil, fmt.Errorf("%w: declared %d bytes, limit %d", ErrFrameTooLarge, n, r.maxFrame)
		}
		return r.readBody(int(n))
	}
}

// readLength reads a uvarint length prefix. io.EOF before its first byte is a
// clean end of stream; anywhere else the frame is truncated.
func (r *Reader) readLength() (uint64, error) {
	var x uint64
	for i, shift := 0, uint(0); i < 10; i, shift = i+1, shift+7 {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("%w: inside length prefix", ErrTruncated)
			}
			return 0, fmt.Errorf("wire: read frame length: %w", err)
		}
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, ErrVarintOverflow
			}
			return x | uint64(c)<<shift, nil
		}
		x |= uint64(c&0x7f) << shift
	}
	return 0, ErrVarintOverflow
}

// readBody reads n bytes, growing the buffer only as bytes arrive so that a
// peer declaring a large frame and sending little costs little memory.
func (r *Reader) readBody(n int) ([]byte, error) {
	buf := r.buf[:0]
	for len(buf) < n {
		want := n
		if cap(buf) < n {
			want = min(n, max(2*len(buf), minGrow))
			if cap(buf) < want {
				grown := pool.Get(want)[:len(buf)]
				copy(grown, buf)
				pool.Put(buf)
				buf = grown
			}
		}
		got, err := io.ReadFull(r.br, buf[len(buf):want])
		buf = buf[:len(buf)+got]
		if err != nil {
			r.buf = buf[:0]
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: got %d of %d bytes", ErrTruncated, len(buf), n)
			}
			return nil, fmt.Errorf("wire: read frame body (%d of %d bytes): %w", len(buf), n, err)
		}
	}
	r.buf = buf[:0]
	return buf, nil
}
