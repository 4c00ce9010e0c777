package wire

import (
	"errors"
	"fmt"
	"io"
)

// Errors returned by the frame reader and the RPC decoder. Callers match them
// with errors.Is; every returned error wraps exactly one of them and adds
// context (sizes, limits, the underlying protobuf error).
var (
	// ErrFrameTooLarge: the declared frame length exceeds the reader's or
	// writer's limit. The reader returns it before allocating anything for the
	// frame.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrTruncated: the stream ended inside a length prefix or a frame body.
	// It also matches io.ErrUnexpectedEOF, so io-centric callers need not
	// know this package.
	ErrTruncated = fmt.Errorf("wire: truncated frame: %w", io.ErrUnexpectedEOF)
	// ErrVarintOverflow: the length prefix is longer than 10 bytes or does
	// not fit in 64 bits.
	ErrVarintOverflow = errors.New("wire: length prefix varint overflows")
	// ErrMalformed: the frame body is not a valid protobuf RPC. The wrapped
	// error carries the protobuf decoder's message.
	ErrMalformed = errors.New("wire: malformed rpc")
	// ErrLimitExceeded: a repeated field of the RPC holds more entries than
	// the decode [Limits] allow; the concrete error is a *LimitError.
	ErrLimitExceeded = errors.New("wire: rpc limit exceeded")
	// ErrTooManyEmptyFrames: more consecutive zero-length frames than the
	// reader allows (DefaultMaxEmptyFrames, WithMaxEmptyFrames), which would
	// otherwise let a peer keep one ReadRPC call spinning as long as it likes.
	ErrTooManyEmptyFrames = errors.New("wire: too many consecutive empty frames")
)

// LimitError reports which decode limit an RPC exceeded. It matches
// ErrLimitExceeded with errors.Is.
type LimitError struct {
	// Field names the counted entries: "subscriptions", "publish messages",
	// "control entries", "control message ids" or "prune peers".
	Field string
	// Limit is the configured maximum; the scan stops at Limit+1 entries, so
	// the count itself is not reported (the peer may have sent millions).
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("wire: rpc limit exceeded: more than %d %s", e.Limit, e.Field)
}

// Unwrap makes errors.Is(err, ErrLimitExceeded) hold.
func (e *LimitError) Unwrap() error { return ErrLimitExceeded }

// malformed wraps a protobuf or structural error as ErrMalformed.
func malformed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
