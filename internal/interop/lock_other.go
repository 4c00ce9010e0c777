//go:build !unix

package interop

// lockDir is a no-op where flock is unavailable: concurrent installs are then
// the caller's problem (run the interop tests with -p 1).
func lockDir(string) (func(), error) { return func() {}, nil }
