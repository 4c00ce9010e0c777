// Command protogen regenerates the Go code for every .proto file under
// messages/. It compiles the schemas in-process with protocompile and runs
// protoc-gen-go's generator as a library, so the only toolchain needed is Go
// and the generator version is the google.golang.org/protobuf pinned in go.mod.
//
// Usage (from the module root): go run ./internal/cmd/protogen
package main

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	root := flag.String("root", "messages", "directory holding the .proto sources (import root)")
	out := flag.String("out", ".", "directory that module-relative go_package paths are written under")
	module := flag.String("module", "github.com/peermesh/peermesh", "Go module path stripped from go_package")
	flag.Parse()
	if err := run(*root, *out, *module); err != nil {
		slog.Error("protogen failed", "err", err)
		os.Exit(1)
	}
}

func run(root, out, module string) error {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".proto") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", root, err)
	}
	sort.Strings(files)
	comp := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{root}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := comp.Compile(context.Background(), files...)
	if err != nil {
		return fmt.Errorf("compile protos: %w", err)
	}
	// The request must list every file transitively imported, dependencies first.
	seen := map[string]bool{}
	var protos []*descriptorpb.FileDescriptorProto
	for _, f := range compiled {
		collect(f, seen, &protos)
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: files,
		Parameter:      ptr("paths=import"),
		ProtoFile:      protos,
	}
	plugin, err := protogen.Options{}.New(req)
	if err != nil {
		return fmt.Errorf("protogen: %w", err)
	}
	plugin.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
	for _, f := range plugin.Files {
		if f.Generate {
			internal_gengo.GenerateFile(plugin, f)
		}
	}
	resp := plugin.Response()
	if resp.Error != nil {
		return fmt.Errorf("generate: %s", resp.GetError())
	}
	for _, gf := range resp.File {
		name := strings.TrimPrefix(gf.GetName(), module+"/")
		if name == gf.GetName() {
			return fmt.Errorf("generated file %s is outside module %s: check go_package", name, module)
		}
		path := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("mkdir for %s: %w", path, err)
		}
		if err := os.WriteFile(path, []byte(gf.GetContent()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

func collect(fd protoreflect.FileDescriptor, seen map[string]bool, protos *[]*descriptorpb.FileDescriptorProto) {
	if seen[fd.Path()] {
		return
	}
	seen[fd.Path()] = true
	imports := fd.Imports()
	for i := range imports.Len() {
		collect(imports.Get(i).FileDescriptor, seen, protos)
	}
	*protos = append(*protos, protodesc.ToFileDescriptorProto(fd))
}

func ptr[T any](v T) *T { return &v }
