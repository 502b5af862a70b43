package diff_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
)

// BenchmarkDiff100k: a root whose blank holds 100,000 files (1,000
// directories of 100) with 1% of them changed, 1% removed and 1,000 added;
// and the worst case, 100,000 files added to an ephemeral subvolume without
// blank (@var-cache), all of which the next boot erases.
func BenchmarkDiff100k(b *testing.B) {
	l := jobtest.New(b, btrfstestSize(4<<30))
	top := l.FS.Mount
	fsys, err := btrfs.Open(top)
	if err != nil {
		b.Fatal(err)
	}
	defer fsys.Close()
	t0 := time.Now()
	if err := fsys.SetReadOnly("@root-blank", false); err != nil {
		b.Fatal(err)
	}
	populate(b, filepath.Join(top, "@root-blank/usr/share"), 1000, 100)
	if err := fsys.SetReadOnly("@root-blank", true); err != nil {
		b.Fatal(err)
	}
	if _, err := fsys.DeleteRecursive("@root"); err != nil {
		b.Fatal(err)
	}
	if err := fsys.Snapshot("@root-blank", "@root", false); err != nil {
		b.Fatal(err)
	}
	root := filepath.Join(top, "@root/usr/share")
	for d := range 100 {
		for f := range 10 {
			p := filepath.Join(root, fmt.Sprintf("d%04d/f%03d", d*10, f))
			if err := os.WriteFile(p, []byte("changed content"), 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, fmt.Sprintf("d%04d/f%03d", d*10+1, f))); err != nil {
				b.Fatal(err)
			}
		}
	}
	populate(b, filepath.Join(top, "@root/srv/new"), 10, 100)
	populate(b, filepath.Join(top, "@var-cache/app"), 1000, 100)
	if err := fsys.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %v", time.Since(t0))
	cfg := config.Default()
	for _, sv := range []struct{ name, what string }{{"@root", "blank100k-2k-changed-1k-added"}, {"@var-cache", "100k-added"}} {
		b.Run(sv.what, func(b *testing.B) {
			var n int
			for b.Loop() {
				rep, err := diff.Make(cfg, fsys, "", []string{sv.name}, false)
				if err != nil {
					b.Fatal(err)
				}
				rep.Print(io.Discard)
				n = len(rep.Subvolumes[0].Entries)
			}
			b.ReportMetric(float64(n), "entries")
		})
	}
}

// populate creates dirs directories of n small files each below dir.
func populate(tb testing.TB, dir string, dirs, n int) {
	tb.Helper()
	for d := range dirs {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			tb.Fatal(err)
		}
		for f := range n {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), []byte("x"), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func btrfstestSize(n int64) btrfstest.Option { return btrfstest.Size(n) }
