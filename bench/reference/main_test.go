package main

import (
	"context"
	"errors"
	"testing"

	"github.com/peermesh/peermesh/internal/meshbench"
)

// go-libp2p-pubsub's Publish always blocks once 32 messages wait for its
// event loop: a run asking for another publish window is refused rather
// than reported with a window it did not have.
func TestPublishWindowIsFixed(t *testing.T) {
	cfg := meshbench.DefaultParams(false).Impl
	cfg.PublishWindow = 0
	if _, err := (gossipsubImpl{}).Start(context.Background(), nil, cfg, nil); !errors.Is(err, meshbench.ErrNotSupported) {
		t.Fatalf("window 0: %v, want ErrNotSupported", err)
	}
}
