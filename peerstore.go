package peermesh

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/peermesh/peermesh/actors/storage"
)

// openPeerStore opens the peer store. A corrupt file (storage.ErrCorrupt)
// is refused unless moveCorrupt is set: then it is renamed to
// "<path>.corrupt-<UTC time>" — kept for the operator to look at, never
// read again — and an empty store is created in its place (reliability case
// F12). Only corruption is moved aside: a locked file, a newer schema or
// another program's file is the operator's mistake, not damage, and
// starting empty would hide it.
func openPeerStore(cfg storage.Config, moveCorrupt bool, log *slog.Logger) (storage.Backend, error) {
	b, err := storage.Open(cfg)
	if err == nil || !moveCorrupt || !errors.Is(err, storage.ErrCorrupt) {
		return b, err
	}
	aside := fmt.Sprintf("%s.corrupt-%s", cfg.Path, time.Now().UTC().Format("20060102T150405.000Z"))
	if rerr := os.Rename(cfg.Path, aside); rerr != nil {
		return nil, fmt.Errorf("%w (moving it aside failed: %w)", err, rerr)
	}
	log.Error("peer store is corrupt: moved aside, starting with an empty store (static nodes are still dialed)",
		"path", cfg.Path, "moved_to", aside, "err", err)
	return storage.Open(cfg)
}
