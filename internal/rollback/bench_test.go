package rollback

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// benchFixture builds the default layout with 30 archives of files small
// files each (unshared), 15 of them older than 30 days (by name and by
// mtime, as the recipe looks at mtime), one expired one with a nested
// subvolume, and a lived-in root. It returns the ids that pruning deletes.
// The archives are read-only when readOnly, as the helper leaves them (the
// recipe's mv leaves them writable; the helper makes a writable one
// read-only, a commit each, as the repair of an interrupted run).
func benchFixture(b *testing.B, files int, now time.Time, readOnly bool) (*btrfstest.FS, *btrfs.FS) {
	b.Helper()
	tfs := layout(b, btrfstest.Size(8<<30))
	fsys := openFS(b, tfs)
	fill := func(dir string) {
		for d := 0; d*1000 < files; d++ {
			sub := filepath.Join(dir, "d"+strconv.Itoa(d))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
			for i := d * 1000; i < min(files, (d+1)*1000); i++ {
				if err := os.WriteFile(filepath.Join(sub, strconv.Itoa(i)), []byte("file "+strconv.Itoa(i)+" of "+dir), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	fill(filepath.Join(tfs.Mount, "@root/home"))
	for i := range 30 {
		age := time.Duration(i-14) * 24 * time.Hour // 15 young ones: 1…15 days
		if i < 15 {
			age = time.Duration(31+i) * 24 * time.Hour
		}
		t := now.Add(-age)
		p := fmt.Sprintf("old_roots/@root/%s-%08x", t.Format(names.TimeLayout), i)
		if err := fsys.CreateSubvolume(p); err != nil {
			b.Fatal(err)
		}
		fill(filepath.Join(tfs.Mount, p))
		if i == 3 {
			if err := fsys.CreateSubvolume(p + "/var-lib-machines"); err != nil {
				b.Fatal(err)
			}
			fill(filepath.Join(tfs.Mount, p, "var-lib-machines"))
		}
		if err := os.Chtimes(filepath.Join(tfs.Mount, p), t, t); err != nil {
			b.Fatal(err)
		}
		if readOnly {
			if err := fsys.SetReadOnly(p, true); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := fsys.Commit(); err != nil {
		b.Fatal(err)
	}
	// Cold caches, as in the initrd at boot (and the same for both sides).
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
	return tfs, fsys
}

func deletedIDs(b *testing.B, fsys *btrfs.FS, before map[string]btrfs.Subvolume) []uint64 {
	after := subvols(b, fsys)
	var ids []uint64
	for p, s := range before {
		if _, ok := after[p]; !ok && strings.HasPrefix(p, "old_roots/") {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// BenchmarkRollbackVsRecipe runs impermanence-rollback and the shell recipe
// on identically built fresh filesystems and reports both wall times (each
// mounts the top level itself), their ratio, and the time until the space
// of the deleted archives is back (helper: it commits; recipe: a plain
// `btrfs subvolume sync`).
func BenchmarkRollbackVsRecipe(b *testing.B) {
	files := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_FILES")); err == nil && v > 0 {
		files = v
	}
	now := time.Now().UTC()
	recipe, err := filepath.Abs("../../scripts/rollback-recipe.sh")
	if err != nil {
		b.Fatal(err)
	}
	var helperT, recipeT, helperSpace, recipeSpace time.Duration
	for range b.N {
		b.StopTimer()
		// The helper.
		tfs, fsys := benchFixture(b, files, now, true)
		before := subvols(b, fsys)
		h := host(b, "")
		b.StartTimer()
		start := time.Now()
		code, out := rollback(b, nil, runOpts{root: h, now: now}, "--device", tfs.Device)
		helperT += time.Since(start)
		b.StopTimer()
		if code != job.ExitOK {
			b.Fatalf("rollback exit %d:\n%s", code, out)
		}
		ids := deletedIDs(b, fsys, before)
		if len(ids) != 16 {
			b.Fatalf("helper deleted %d subvolumes, want 15 archives + 1 nested:\n%s", len(ids), out)
		}
		start = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := fsys.WaitDeleted(ctx, ids, 0); err != nil {
			b.Fatal(err)
		}
		cancel()
		helperSpace += time.Since(start)

		// The recipe.
		tfs, fsys = benchFixture(b, files, now, false)
		before = subvols(b, fsys)
		b.StartTimer()
		start = time.Now()
		cmdOut, err := exec.Command(recipe, tfs.Device, "@root", "@root-blank").CombinedOutput()
		recipeT += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("recipe: %v\n%s", err, cmdOut)
		}
		if ids := deletedIDs(b, fsys, before); len(ids) != 16 {
			b.Fatalf("recipe deleted %d subvolumes, want 16", len(ids))
		}
		start = time.Now()
		if out, err := exec.Command("btrfs", "subvolume", "sync", tfs.Mount).CombinedOutput(); err != nil {
			b.Fatalf("btrfs subvolume sync: %v\n%s", err, out)
		}
		recipeSpace += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(helperT.Seconds()*1000/n, "helper-ms")
	b.ReportMetric(recipeT.Seconds()*1000/n, "recipe-ms")
	b.ReportMetric(helperT.Seconds()/recipeT.Seconds(), "ratio")
	b.ReportMetric(helperSpace.Seconds()/n, "helper-space-s")
	b.ReportMetric(recipeSpace.Seconds()/n, "recipe-space-s")
	b.Logf("files per archive %d: helper %s, recipe %s (ratio %.2f); space back: helper %s, recipe (subvolume sync) %s",
		files, helperT/time.Duration(b.N), recipeT/time.Duration(b.N), helperT.Seconds()/recipeT.Seconds(),
		helperSpace/time.Duration(b.N), recipeSpace/time.Duration(b.N))
}
