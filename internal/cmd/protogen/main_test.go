package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, seen from this package's directory.
const repoRoot = "../../.."

// TestCommittedCodeIsCurrent regenerates every message package into a
// temporary directory and compares it with the committed .pb.go files, so
// `go test ./...` catches a .proto edited without running the generator
// (CI checks the same through git diff), and a generated file whose .proto
// is gone.
func TestCommittedCodeIsCurrent(t *testing.T) {
	out := t.TempDir()
	if err := run(filepath.Join(repoRoot, "messages"), out, "github.com/peermesh/peermesh"); err != nil {
		t.Fatalf("generate: %v", err)
	}
	generated := pbFiles(t, out)
	committed := pbFiles(t, repoRoot)
	if len(generated) == 0 {
		t.Fatal("the generator wrote no .pb.go file")
	}
	for name := range generated {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(repoRoot, name))
		switch {
		case err != nil:
			t.Errorf("%s is not committed (%v): run 'go run ./internal/cmd/protogen'", name, err)
		case !bytes.Equal(got, want):
			t.Errorf("%s is stale: run 'go run ./internal/cmd/protogen' and commit", name)
		}
	}
	for name := range committed {
		if !generated[name] {
			t.Errorf("%s has no .proto any more: delete it", name)
		}
	}
}

// pbFiles lists the .pb.go files under root/messages, relative to root.
func pbFiles(t *testing.T, root string) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "messages"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".pb.go") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list generated files under %s: %v", root, err)
	}
	return files
}
