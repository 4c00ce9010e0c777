package interop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// NPMTimeout bounds `npm ci`; a cold install of the pinned packages takes
// about 20 s here.
const NPMTimeout = 5 * time.Minute

// ErrNodeMissing: node or npm is not on PATH.
var ErrNodeMissing = errors.New("interop: node and npm are required (install Node.js >= 20)")

// JSDir returns the absolute path of testdata/interop/js: next to this source
// file's module root, or (for -trimpath builds) the first ancestor of the
// working directory that has it. Tests of any package find it.
func JSDir() (string, error) {
	rel := filepath.Join("testdata", "interop", "js")
	var candidates []string
	if _, file, _, ok := runtime.Caller(0); ok {
		candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", rel))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, rel))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, dir := range candidates {
		if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
			return filepath.Abs(dir)
		}
	}
	return "", fmt.Errorf("interop: js harness (%s/package-lock.json) not found from the source file or working directory", rel)
}

// installed reports whether a previous npm ci completed: npm writes
// node_modules/.package-lock.json last.
func installed(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil
}

// EnsureInstalled runs `npm ci` in dir unless node_modules is complete. Test
// binaries of several packages may call it at once, so it holds a file lock
// for the duration.
func EnsureInstalled(ctx context.Context, dir string) error {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNodeMissing, tool, err)
		}
	}
	if installed(dir) {
		return nil
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	if installed(dir) { // another process installed while we waited
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, NPMTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (after %s)", ctx.Err(), NPMTimeout)
		}
		return fmt.Errorf("interop: npm ci in %s: %w\n%s", dir, err, lastBytes(out, 4096))
	}
	return nil
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
