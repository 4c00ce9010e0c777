package seedrand

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
)

// New returns a PCG generator seeded from crypto/rand. Seeding from
// anything every node shares (the topic name did, before ADR 0031) makes
// every node draw the same permutations: a peer at the same place in its
// neighbours' peer order is then left out of gossip by all of them at once,
// and an attacker can predict whom a node will choose.
func New() *rand.Rand {
	var seed [16]byte
	// crypto/rand.Read never returns an error: it aborts the program if the
	// operating system's source fails.
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}
