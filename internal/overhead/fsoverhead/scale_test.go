package fsoverhead

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
)

// wholeSource reads every tree whole: the reference the incremental walk
// must agree with.
type wholeSource struct{ overhead.Source }

func (w wholeSource) Extents(id, _ uint64, fn func(overhead.Extent) error) error {
	return w.Source.Extents(id, 0, fn)
}

// TestOverheadManySnapshots takes $OVERHEAD_SNAPSHOTS (default 60)
// hourly snapshots of a @persist of 5,000 files with a little churn
// between them (files rewritten, added, deleted, a log appended), then
// measures the overhead incrementally and with every tree read whole:
// both must give the same figures, the incremental one reading a fraction
// of the items. The figures (time, items) are logged; docs/performance.md
// has them for 5,000 snapshots.
func TestOverheadManySnapshots(t *testing.T) {
	n := 60
	if s := os.Getenv("OVERHEAD_SNAPSHOTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			t.Fatalf("OVERHEAD_SNAPSHOTS=%q: want a number of snapshots ≥ 2", s)
		}
	}
	tfs := btrfstest.New(t, btrfstest.Size(4<<30))
	fsys, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	cfg := config.Default()
	if err := fsys.CreateSubvolume("@persist"); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(tfs.Mount, "@persist")
	const files, dirs = 5000, 50
	buf := make([]byte, 16<<10)
	write := func(p string, size int) {
		rand.Read(buf[:size])
		if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := func(i int) string { return filepath.Join(live, strconv.Itoa(i%dirs), strconv.Itoa(i)) }
	for d := range dirs {
		if err := os.Mkdir(filepath.Join(live, strconv.Itoa(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		write(file(i), 4096+i%3*4096)
	}
	log, err := os.Create(filepath.Join(live, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	snaps := filepath.Join(cfg.Snapshots.Dir, "@persist")
	if err := os.MkdirAll(filepath.Join(tfs.Mount, snaps), 0o700); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	next := files
	for s := range n {
		write(file(s*7%next), 8192)         // rewritten
		write(file(next), 4096)             // added
		os.Remove(file((s*13 + 1) % files)) // deleted (or already gone)
		next++
		fmt.Fprintf(log, "%s snapshot %d of a server log line, with some text to compress\n", t0, s)
		if err := fsys.Snapshot("@persist", filepath.Join(snaps, names.Snapshot(t0.Add(time.Duration(s)*time.Hour), "")), true); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d snapshots taken in %s", n, time.Since(start).Round(time.Millisecond))
	exec.Command("btrfs", "filesystem", "sync", tfs.Mount).Run()

	l, subs, err := Inputs(fsys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := Source{fsys}
	start = time.Now()
	inc, err := overhead.Measure(context.Background(), src, l, subs)
	incTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	whole, err := overhead.Measure(context.Background(), wholeSource{src}, l, subs)
	wholeTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	find := func(m overhead.Measurement) overhead.Subvolume {
		for _, sv := range m.Subvolumes {
			if sv.Name == "@persist" {
				return sv
			}
		}
		t.Fatalf("no @persist in %+v", m)
		return overhead.Subvolume{}
	}
	i, w := find(inc), find(whole)
	t.Logf("incremental: %s, %d trees (%d whole), %d items; every tree whole: %s, %d items", incTime.Round(time.Millisecond),
		inc.Walks, inc.FullWalks, inc.Items, wholeTime.Round(time.Millisecond), whole.Items)
	t.Logf("@persist: live %d bytes, %d only in %d snapshots: overhead %.1f %%", i.Live.Disk, i.Exclusive, i.Snapshots, 100*i.Ratio())
	if i.Exclusive != w.Exclusive || i.ExclusiveUncompressed != w.ExclusiveUncompressed || i.Live != w.Live {
		t.Errorf("incremental %+v, whole %+v: want the same figures", i, w)
	}
	if i.Snapshots != n || i.FullWalks != 1 || i.Exclusive == 0 {
		t.Errorf("incremental %+v: want %d snapshots, the first read whole, some exclusive bytes", i, n)
	}
	if inc.Items*4 > whole.Items {
		t.Errorf("incremental walk read %d items, every tree whole %d: want at most a quarter", inc.Items, whole.Items)
	}
}
