package btrfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
)

// newFS creates a loop-mounted btrfs and opens its top level.
func newFS(tb testing.TB, opts ...btrfstest.Option) (*btrfs.FS, *btrfstest.FS) {
	tb.Helper()
	tfs := btrfstest.New(tb, opts...)
	fs, err := btrfs.Open(tfs.Mount)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fs.Close() }) // runs before the unmount
	return fs, tfs
}

// create makes each path: a subvolume, or a directory when it ends in "/".
func create(tb testing.TB, fs *btrfs.FS, paths ...string) {
	tb.Helper()
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(filepath.Join(fs.Mountpoint(), p), 0o755); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := fs.CreateSubvolume(p); err != nil {
			tb.Fatal(err)
		}
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// command runs a tool and returns its standard output.
func command(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		tb.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// ids returns the ids of subs by path.
func ids(subs []btrfs.Subvolume) map[string]uint64 {
	m := map[string]uint64{}
	for _, s := range subs {
		m[s.Path] = s.ID
	}
	return m
}

func list(tb testing.TB, fs *btrfs.FS) []btrfs.Subvolume {
	tb.Helper()
	subs, err := fs.List()
	if err != nil {
		tb.Fatal(err)
	}
	return subs
}
