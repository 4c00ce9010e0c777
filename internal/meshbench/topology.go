package meshbench

import (
	"fmt"
	"math/rand"
)

// Edge is an undirected link; A dials B.
type Edge struct{ A, B int }

// Topology returns the M1 topology: node i dials `degree` distinct random
// other nodes, drawn from math/rand seeded with seed. Links that both ends
// picked appear once. It fails if the graph is not connected, so a run
// never measures a partitioned network.
func Topology(n, degree int, seed int64) ([]Edge, error) {
	if n < 2 || degree < 1 || degree >= n {
		return nil, fmt.Errorf("topology: need n >= 2 and 1 <= degree < n, got n=%d degree=%d", n, degree)
	}
	rng := rand.New(rand.NewSource(seed))
	seen := make(map[Edge]bool)
	var edges []Edge
	for i := range n {
		picked := make(map[int]bool, degree)
		for len(picked) < degree {
			j := rng.Intn(n)
			if j == i || picked[j] {
				continue
			}
			picked[j] = true
			key := Edge{min(i, j), max(i, j)}
			if !seen[key] {
				seen[key] = true
				edges = append(edges, Edge{i, j})
			}
		}
	}
	if !connected(n, edges) {
		return nil, fmt.Errorf("topology: n=%d degree=%d seed=%d is not connected", n, degree, seed)
	}
	return edges, nil
}

// Degrees returns each node's number of distinct neighbours.
func Degrees(n int, edges []Edge) []int {
	d := make([]int, n)
	for _, e := range edges {
		d[e.A]++
		d[e.B]++
	}
	return d
}

func connected(n int, edges []Edge) bool {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e.A] = append(adj[e.A], e.B)
		adj[e.B] = append(adj[e.B], e.A)
	}
	seen := make([]bool, n)
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				count++
				stack = append(stack, w)
			}
		}
	}
	return count == n
}
