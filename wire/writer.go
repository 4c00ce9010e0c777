package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	pool "github.com/libp2p/go-buffer-pool"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	gossipsubv1 "github.com/peermesh/peermesh/messages/gossipsub/v1"
)

// DefaultFlushThreshold is the buffered size at which a Writer flushes by
// itself, so a caller that batches without bound still writes in chunks that
// Yamux and Noise handle in a few frames.
const DefaultFlushThreshold = 64 << 10

// marshalCached reuses the size computed just before by proto.Size, so each
// RPC is walked once for its size and once for its bytes.
var marshalCached = proto.MarshalOptions{UseCachedSize: true}

// AppendFrame appends uvarint(len) || protobuf(rpc) to dst. It does not
// enforce a frame limit; Writer does.
func AppendFrame(dst []byte, rpc *gossipsubv1.RPC) ([]byte, error) {
	return appendFrameSized(dst, rpc, proto.Size(rpc))
}

// appendFrameSized is AppendFrame for an rpc whose proto.Size was just
// computed (and cached in it).
func appendFrameSized(dst []byte, rpc *gossipsubv1.RPC, size int) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(size))
	start := len(dst)
	dst, err := marshalCached.MarshalAppend(dst, rpc)
	if err != nil {
		return dst[:start], fmt.Errorf("wire: encode rpc: %w", err)
	}
	if got := len(dst) - start; got != size {
		// Only possible if rpc was mutated concurrently with encoding.
		return dst[:start], fmt.Errorf("wire: encode rpc: size changed from %d to %d during encoding", size, got)
	}
	return dst, nil
}

// AppendEncodedFrame appends uvarint(len(body)) || body, for an RPC already
// encoded once and sent to many peers.
func AppendEncodedFrame(dst, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

// Writer batches frames in memory and writes them to the stream in one call
// on Flush (or when the batch reaches the flush threshold). It is not safe for
// concurrent use. After a write error every call returns that error.
//
// The batch lives in a buffer of the process-wide buffer pool (the one
// go-libp2p's Yamux uses), taken at the first frame and given back by
// Flush: an idle writer holds no buffer, and a busy one reuses buffers
// instead of allocating up to a write's size per batch (ADR 0021: those
// allocations were a fifth of the bytes M1 allocated).
type Writer struct {
	w        io.Writer
	maxFrame int
	flushAt  int
	buf      []byte
	err      error
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithFlushThreshold sets the batch size in bytes at which Write flushes by
// itself; n <= 0 disables automatic flushing.
func WithFlushThreshold(n int) WriterOption {
	return func(w *Writer) { w.flushAt = n }
}

// NewWriter returns a Writer refusing frames larger than maxFrame (the peer
// would reset the stream on them); maxFrame <= 0 means MaxFrameDefault.
func NewWriter(w io.Writer, maxFrame int, opts ...WriterOption) *Writer {
	if maxFrame <= 0 {
		maxFrame = MaxFrameDefault
	}
	wr := &Writer{w: w, maxFrame: maxFrame, flushAt: DefaultFlushThreshold}
	for _, o := range opts {
		o(wr)
	}
	return wr
}

// Write encodes rpc into the batch. A frame over the limit returns an error
// matching ErrFrameTooLarge and leaves the batch unchanged.
func (w *Writer) Write(rpc *gossipsubv1.RPC) error {
	if w.err != nil {
		return w.err
	}
	size := proto.Size(rpc)
	if size > w.maxFrame {
		return fmt.Errorf("%w: rpc of %d bytes, limit %d", ErrFrameTooLarge, size, w.maxFrame)
	}
	w.Grow(size + binary.MaxVarintLen64)
	buf, err := appendFrameSized(w.buf, rpc, size)
	if err != nil {
		return err
	}
	w.buf = buf
	return w.maybeFlush()
}

// WriteEncoded adds an already encoded RPC body to the batch.
func (w *Writer) WriteEncoded(body []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(body) > w.maxFrame {
		return fmt.Errorf("%w: rpc of %d bytes, limit %d", ErrFrameTooLarge, len(body), w.maxFrame)
	}
	w.Grow(len(body) + binary.MaxVarintLen64)
	w.buf = AppendEncodedFrame(w.buf, body)
	return w.maybeFlush()
}

func (w *Writer) maybeFlush() error {
	if w.flushAt > 0 && len(w.buf) >= w.flushAt {
		return w.Flush()
	}
	return nil
}

// minWriteBuffer is the smallest pooled batch buffer.
const minWriteBuffer = 4 << 10

// Grow makes room for n more bytes in the batch, so that writing several
// frames before a Flush takes one buffer instead of growing it frame by
// frame (each doubling copies what was written so far).
func (w *Writer) Grow(n int) {
	if n <= 0 || cap(w.buf)-len(w.buf) >= n {
		return
	}
	nb := pool.Get(max(len(w.buf)+n, 2*cap(w.buf), minWriteBuffer))[:len(w.buf)]
	copy(nb, w.buf)
	pool.Put(w.buf)
	w.buf = nb
}

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Flush writes the batch to the stream in one Write call.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.w.Write(w.buf)
	if err == nil && n != len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("wire: flush %d bytes: %w", len(w.buf), err)
		return w.err
	}
	// Back to the pool: a node keeps one Writer per peer, most of them
	// idle at any moment (M1's heap profile showed them holding 1.7 MiB per
	// node when each kept its buffer).
	pool.Put(w.buf)
	w.buf = nil
	return nil
}

// AppendMessageFrame appends the frame of an RPC whose only content is one
// published message, given the message's encoding (proto.Marshal of a
// gossipsubv1.Message). A router forwarding one message to many peers
// encodes it once and pays one copy per peer instead of one encoding.
func AppendMessageFrame(dst, encodedMsg []byte) []byte {
	body := fieldCost(len(encodedMsg)) // RPC.publish (2, LEN) || message
	dst = binary.AppendUvarint(dst, uint64(body))
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	return protowire.AppendBytes(dst, encodedMsg)
}

// WriteMessage adds an RPC carrying one already encoded message to the batch
// (see AppendMessageFrame).
func (w *Writer) WriteMessage(encodedMsg []byte) error {
	if w.err != nil {
		return w.err
	}
	size := fieldCost(len(encodedMsg))
	if size > w.maxFrame {
		return fmt.Errorf("%w: rpc of %d bytes, limit %d", ErrFrameTooLarge, size, w.maxFrame)
	}
	w.Grow(size + binary.MaxVarintLen64)
	w.buf = AppendMessageFrame(w.buf, encodedMsg)
	return w.maybeFlush()
}
