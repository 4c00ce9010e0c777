// Package attacks holds the adversarial tests of issue 5: honest peermesh
// routers on a simulated network (package internal/sim, inside synctest
// bubbles, so backoffs, P3 activation windows and score decay take no wall
// time) are attacked by an internal/attacker peer, one attack per test.
//
// Every test checks the same three things while the attack runs: honest
// nodes still deliver 100 % of the messages published during the attack,
// the heap and the relevant drop counters stay within the configured bounds,
// and, where peer scoring applies, the attacker's score falls below the
// graylist threshold, it is pruned from the mesh and then ignored.
//
// The package has no non-test code; this file exists to document it.
package attacks
