package main

import (
	"context"
	"errors"
	"testing"

	"github.com/peermesh/peermesh/internal/meshbench"
)

// go-libp2p-pubsub's Publish always waits for its event loop to take the
// message in: a run asking for another publish window is refused rather
// than reported with a window it did not have.
func TestPublishWindowIsFixed(t *testing.T) {
	cfg := meshbench.DefaultParams(false).Impl
	cfg.PublishWindow = 0
	if _, err := (gossipsubImpl{}).Start(context.Background(), nil, cfg, nil); !errors.Is(err, meshbench.ErrNotSupported) {
		t.Fatalf("window 0: %v, want ErrNotSupported", err)
	}
}
