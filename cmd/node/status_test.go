package main

import (
	"strings"
	"testing"
	"time"
)

// The node logs a status line an operator can read every --status-interval:
// relay peers in and out against their targets, mesh per shard, relayed
// messages per second and drops.
func TestStatusLine(t *testing.T) {
	a := startProc(t, nil, append(baseArgs(t.TempDir()), "--status-interval=1s")...)
	b := startProc(t, nil, append(baseArgs(t.TempDir()), "--status-interval=1s", "--staticnode="+a.addr())...)
	for _, p := range []*proc{a, b} {
		for key, want := range map[string]string{"relay_out": "/", "relay_in": "/", "connected": "/", "mesh": "0/0:", "msgs_per_s": "."} {
			if got := p.waitLog(15*time.Second, "status", key); !strings.Contains(got, want) {
				t.Errorf("status %s = %q, want it to contain %q", key, got, want)
			}
		}
	}
	// b connected to a: some status line of b says one connection.
	eventually(t, 15*time.Second, "b's status line shows its connection", func() bool {
		return b.hasLog("status", "connected", "1/50")
	})
}

// hasLog reports whether a log line with msg has key set to value.
func (p *proc) hasLog(msg, key, value string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l["msg"] == msg && l[key] == value {
			return true
		}
	}
	return false
}
