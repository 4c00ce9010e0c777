package actortest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peermesh/peermesh/actortest"
)

func writeCore(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "core.go")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAssertPureCore(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the failures; none: the file is pure
	}{
		{"time values and arithmetic are pure", `package core
import "time"
func Next(now time.Time, d time.Duration) time.Time { return now.Add(d) }`, nil},
		{"reading the clock", `package core
import "time"
func Stamp() time.Time { return time.Now() }`, []string{"calls time.Now"}},
		{"reading the clock under another name", `package core
import clock "time"
func Wait() { clock.Sleep(clock.Second) }`, []string{"calls time.Sleep"}},
		{"a goroutine", `package core
func Spawn(f func()) { go f() }`, []string{"starts a goroutine"}},
		{"I/O and concurrency imports", `package core
import (
	"os"
	"sync"
	"github.com/asynkron/protoactor-go/actor"
)
var _ = os.Args
var _ sync.Mutex
var _ actor.PID`, []string{"imports os", "imports sync", "imports github.com/asynkron/protoactor-go/actor"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			actortest.AssertPureCore(rec, writeCore(t, tt.src))
			got := rec.all()
			if len(tt.want) == 0 && got != "" {
				t.Fatalf("a pure file was reported: %s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("failures %q lack %q", got, w)
				}
			}
		})
	}
}
