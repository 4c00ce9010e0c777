package main

import (
	"strings"
	"testing"
	"time"
)

// TestDiscv5FlagsInProcesses: nwaku's discovery flags work on the command
// line. A seed serves discv5 on a free UDP port, and its node record (logged
// at start) carries it; a second node given only that record with
// --discv5-bootstrap-node connects to the seed (origin discv5); a third,
// without discv5, given the seed as --peer-exchange-node asks it for peers.
func TestDiscv5FlagsInProcesses(t *testing.T) {
	seed := startProc(t, nil, append(baseArgs(t.TempDir()), "--cluster-id=16", "--shard=0", "--discv5-discovery=true",
		"--discv5-udp-port=0", "--ip-colocation-limit=0")...)
	enr := seed.waitLog(15*time.Second, "node record", "enr")
	if !strings.HasPrefix(enr, "enr:") {
		t.Fatalf("record %q", enr)
	}
	seedID := seed.peerID()
	// The seed's table takes inbound contacts after its first round.
	seed.waitLog(20*time.Second, "discv5 round", "level")
	b := startProc(t, nil, append(baseArgs(t.TempDir()), "--cluster-id=16", "--shard=0", "--discv5-discovery=true",
		"--discv5-udp-port=0", "--discv5-bootstrap-node="+enr, "--ip-colocation-limit=0")...)
	bREST := b.restURL()
	eventually(t, 30*time.Second, "b connects to the seed found through its record", func() bool {
		return hasPeer(peers(t, bREST), seedID, "Connected", "discv5")
	})
	c := startProc(t, nil, append(baseArgs(t.TempDir()), "--cluster-id=16", "--shard=0",
		"--peer-exchange-node="+seed.addr(), "--ip-colocation-limit=0")...)
	cREST, bID := c.restURL(), b.peerID()
	eventually(t, 40*time.Second, "c learns b from the seed's peer exchange", func() bool {
		return hasPeer(peers(t, cREST), bID, "", "px")
	})
}
