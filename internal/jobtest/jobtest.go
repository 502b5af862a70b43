// Package jobtest gives the helper tests a real btrfs filesystem with the
// built-in default layout (provisioned by impermanence-provision) and a
// job.Env rooted in a directory of the test's own (state, lock, audit and
// run directories).
package jobtest

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

// Layout is a provisioned test filesystem.
type Layout struct {
	FS  *btrfstest.FS
	Env job.Env
	Out *SyncBuffer // the Env's Stdout
	Err *SyncBuffer // the Env's Stderr (the log: no journal in tests)
}

// New provisions the default layout on a fresh filesystem (skipped when not
// root) and returns it.
func New(tb testing.TB, opts ...btrfstest.Option) *Layout {
	tb.Helper()
	fs := btrfstest.New(tb, opts...)
	Provision(tb, fs.Mount)
	l := &Layout{FS: fs, Out: &SyncBuffer{}, Err: &SyncBuffer{}}
	l.Env = job.Env{
		Stdout: l.Out, Stderr: l.Err, Root: tb.TempDir(),
		Journal: func() bool { return false },
	}
	return l
}

// Provision creates the built-in default layout on the top level at mount.
func Provision(tb testing.TB, mount string) {
	tb.Helper()
	var out, errb bytes.Buffer
	code := provision.Run(context.Background(), []string{"--default", "--mount", mount},
		job.Env{Stdout: &out, Stderr: &errb, Root: tb.TempDir()})
	if code != job.ExitOK {
		tb.Fatalf("provision --default: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// Args returns args with the flags that point at the test filesystem
// inserted before them (after a leading subcommand such as "list").
func (l *Layout) Args(args ...string) []string {
	flags := []string{"--default", "--mount", l.FS.Mount}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[0], "@") {
		return append(append([]string{args[0]}, flags...), args[1:]...)
	}
	return append(flags, args...)
}

// Reset empties the output buffers.
func (l *Layout) Reset() { l.Out.Reset(); l.Err.Reset() }

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns the content.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// DeviceArgs is Args with --device for --mount: the job mounts the top
// level privately and reaches it through a descriptor (/proc/<pid>/fd/<n>),
// as on a host.
func (l *Layout) DeviceArgs(args ...string) []string {
	out := l.Args(args...)
	for i, a := range out {
		if a == "--mount" {
			out[i], out[i+1] = "--device", l.FS.Device
			break
		}
	}
	return out
}

// procPath is a path below a process's descriptor: what a job must not
// show (btrfs.ShowPath shows it as <device>:/<path>).
var procPath = regexp.MustCompile(`/proc/(self|[0-9]+)/fd/[0-9]+`)

// NoProcPaths fails tb for every line of the job's output (Out, Err) and of
// the files of its state, run and audit directories that names a path
// below a descriptor.
func (l *Layout) NoProcPaths(tb testing.TB) {
	tb.Helper()
	texts := map[string]string{"stdout": l.Out.String(), "stderr": l.Err.String()}
	for _, dir := range []string{l.Env.StateDir(), l.Env.RunDir(), filepath.Dir(l.Env.AuditPath())} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				texts[p] = string(b)
			}
			return nil
		})
	}
	for name, text := range texts {
		for _, line := range DescriptorPaths(text) {
			tb.Errorf("%s names a descriptor's path: %s", name, line)
		}
	}
}

// DescriptorPaths returns the lines of text that name a path below a
// process's descriptor (/proc/<pid>/fd/<n>).
func DescriptorPaths(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if procPath.MatchString(line) {
			out = append(out, line)
		}
	}
	return out
}
