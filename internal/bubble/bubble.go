package bubble

import (
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
)

// Test is synctest.Test, on one P when the race detector is on (see the
// package documentation).
func Test(t *testing.T, f func(*testing.T)) {
	t.Helper()
	if raceEnabled {
		release := oneP()
		defer release()
	}
	synctest.Test(t, f)
}

var (
	mu       sync.Mutex
	users    int
	restored int
)

// oneP sets GOMAXPROCS to 1 for as long as any bubble runs (bubbles of
// parallel tests share the setting) and returns the function that restores
// the previous value when the last one ends.
func oneP() (release func()) {
	mu.Lock()
	defer mu.Unlock()
	if users == 0 {
		restored = runtime.GOMAXPROCS(1)
	}
	users++
	return func() {
		mu.Lock()
		defer mu.Unlock()
		users--
		if users == 0 {
			runtime.GOMAXPROCS(restored)
		}
	}
}
