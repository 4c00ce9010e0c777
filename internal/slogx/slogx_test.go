package slogx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMinLevelDropsBelowMin(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(MinLevel{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), Min: slog.LevelWarn}).
		With("lib", "x").WithGroup("g")
	log.Info("routine")
	log.Warn("trouble")
	if out := buf.String(); strings.Contains(out, "routine") || !strings.Contains(out, "trouble") || !strings.Contains(out, "lib=x") {
		t.Fatalf("output %q", out)
	}
}
