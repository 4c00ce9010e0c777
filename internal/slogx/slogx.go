// Package slogx holds log/slog helpers shared by the node and its actors.
package slogx

import (
	"context"
	"log/slog"
)

// MinLevel passes only records at or above Min to Handler. Libraries that
// log every routine event at INFO or DEBUG (protoactor's dead letters at a
// normal shutdown, go-ethereum's discv5 table) keep their warnings in an
// operator's log and nothing else.
type MinLevel struct {
	slog.Handler
	Min slog.Level
}

// Enabled implements slog.Handler.
func (h MinLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.Min && h.Handler.Enabled(ctx, l)
}

// WithAttrs implements slog.Handler.
func (h MinLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return MinLevel{Handler: h.Handler.WithAttrs(attrs), Min: h.Min}
}

// WithGroup implements slog.Handler.
func (h MinLevel) WithGroup(name string) slog.Handler {
	return MinLevel{Handler: h.Handler.WithGroup(name), Min: h.Min}
}
