// Package seedrand makes the math/rand generators of actors that need
// unpredictable, per-node choices (gossipsub peer selection, discovery
// walks): seeded from crypto/rand, never from anything nodes share (ADR
// 0031). Tests that need reproducible choices pass their own seeded
// generator instead.
package seedrand
