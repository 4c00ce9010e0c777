package interop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/peermesh/peermesh/internal/interop"
)

// TestHarnessCommands checks the command channel itself: replies carry the
// command id, js errors become Go errors, and a stopped peer reports it.
func TestHarnessCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := interop.Start(t, interop.Config{Profile: "waku", Topics: []string{"a"}})
	if js.ID == "" || len(js.Addrs) == 0 {
		t.Fatalf("ready without id or addresses: %q %v", js.ID, js.Addrs)
	}
	ready, err := js.WaitFor(ctx, func(e interop.Event) bool { return e.Event == "ready" })
	if err != nil {
		t.Fatal(err)
	}
	if want := "/vac/waku/relay/2.0.0"; len(ready.Protocols) == 0 || ready.Protocols[0] != want {
		t.Errorf("waku profile offers %v, want %s first", ready.Protocols, want)
	}
	mesh, err := js.MeshPeers(ctx, "a")
	if err != nil || len(mesh) != 0 {
		t.Errorf("mesh of a lone peer: %v, %v", mesh, err)
	}
	if _, err := js.Request(ctx, interop.Command{Cmd: "nonsense"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: got %v", err)
	}
	if _, err := js.Request(ctx, interop.Command{Cmd: "stop"}); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := js.WaitFor(ctx, func(e interop.Event) bool { return e.Event == "never" }); err != interop.ErrExited {
		t.Errorf("waiting on a stopped peer: got %v, want ErrExited", err)
	}
}
