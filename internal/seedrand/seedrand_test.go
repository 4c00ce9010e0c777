package seedrand

import "testing"

// TestNewDrawsIndependently: two generators, as two nodes' topic actors of
// one topic hold, draw different sequences and shuffle the same peer list
// differently (a shared seed drew the same permutation at every node).
func TestNewDrawsIndependently(t *testing.T) {
	const n = 32
	a, b := New(), New()
	pa, pb := a.Perm(n), b.Perm(n)
	same := 0
	for i := range n {
		if pa[i] == pb[i] {
			same++
		}
	}
	// Two independent permutations of 32 agree in about one place; all 32
	// agreeing has odds 1/32!.
	if same == n {
		t.Fatalf("two generators drew the same permutation %v", pa)
	}
	if x, y := a.Uint64(), b.Uint64(); x == y {
		t.Fatalf("two generators drew the same value %d", x)
	}
}
