package dialer

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// coreFiles hold the pure core: no goroutines, clock, I/O or actor types.
var coreFiles = []string{"pool.go", "effects.go", "request.go", "config.go"}

// TestCoreIsPure enforces mechanically what doc.go promises of the core: its
// files import nothing that does I/O or concurrency, start no goroutine and
// never read the clock or sleep.
func TestCoreIsPure(t *testing.T) {
	forbiddenImports := []string{
		"context", "sync", "os", "net", "log", "math/rand",
		"github.com/asynkron/protoactor-go",
		"github.com/libp2p/go-libp2p/core/host",
		"github.com/libp2p/go-libp2p/core/network",
		"github.com/prometheus/client_golang",
	}
	forbiddenCalls := map[string]bool{"Now": true, "Sleep": true, "After": true, "AfterFunc": true,
		"NewTimer": true, "NewTicker": true, "Tick": true, "Since": true, "Until": true}
	fset := token.NewFileSet()
	for _, name := range coreFiles {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbiddenImports {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: goroutine started at %s", name, fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if pkg, ok := n.X.(*ast.Ident); ok && pkg.Name == "time" && forbiddenCalls[n.Sel.Name] {
					t.Errorf("%s: time.%s at %s", name, n.Sel.Name, fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
}
