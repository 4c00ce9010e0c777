package actortest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// impureImports are packages a pure core must not import: I/O, concurrency,
// global randomness, the actor runtime, the network and metrics all belong to
// the adapter around the core.
var impureImports = []string{
	"context", "sync", "os", "net", "log", "math/rand", "io/fs",
	"github.com/asynkron/protoactor-go",
	"github.com/libp2p/go-libp2p/core/host",
	"github.com/libp2p/go-libp2p/core/network",
	"github.com/prometheus/client_golang",
	"go.etcd.io/bbolt",
}

// clockCalls are the functions of package time that read the clock or wait.
// time.Time and time.Duration arithmetic stays allowed: cores take now as an
// argument.
var clockCalls = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true,
}

// AssertPureCore fails t for every file of files (paths relative to the
// test's package directory) that imports a package doing I/O or concurrency,
// starts a goroutine, or reads the clock. It enforces mechanically what a
// package's doc.go promises of its core ("no goroutines, clock or I/O"), so
// the promise cannot rot in review.
func AssertPureCore(t testing.TB, files ...string) {
	t.Helper()
	if len(files) == 0 {
		t.Fatal("actortest: AssertPureCore: no files given")
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("actortest: AssertPureCore: parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range impureImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("pure core %s imports %s", name, path)
				}
			}
		}
		timePkg := localName(f, "time")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("pure core %s starts a goroutine at %s", name, fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if pkg, ok := n.X.(*ast.Ident); ok && timePkg != "" && pkg.Name == timePkg && clockCalls[n.Sel.Name] {
					t.Errorf("pure core %s calls time.%s at %s", name, n.Sel.Name, fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}

// localName is the name under which f imports path ("" if it does not).
func localName(f *ast.File, path string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == path {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path[strings.LastIndex(path, "/")+1:]
		}
	}
	return ""
}
