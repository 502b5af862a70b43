package btrfs_test

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// compsizeTotal returns compsize -b's TOTAL line: disk, uncompressed and
// referenced bytes of paths.
func compsizeTotal(tb testing.TB, paths ...string) [3]uint64 {
	tb.Helper()
	out := command(tb, "compsize", append([]string{"-b"}, paths...)...)
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 5 && f[0] == "TOTAL" {
			var v [3]uint64
			for i := range v {
				n, err := strconv.ParseUint(f[2+i], 10, 64)
				if err != nil {
					tb.Fatalf("compsize: %q: %v", l, err)
				}
				v[i] = n
			}
			return v
		}
	}
	tb.Fatalf("compsize %v: no TOTAL line in %q", paths, out)
	return [3]uint64{}
}

// TestFileExtents checks the file extents of a subvolume against compsize
// (every kind: compressed, incompressible, inline, a reflink, a partly
// overwritten extent, a hole, preallocated) and that a walk from a
// snapshot's transaction on skips the blocks it shares.
func TestFileExtents(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@data")
	dir := filepath.Join(tfs.Mount, "@data")
	if err := fs.SetCompression("@data", "zstd"); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 1<<20)
	rand.Read(random)
	writeFile(t, filepath.Join(dir, "random"), string(random))
	writeFile(t, filepath.Join(dir, "text"), strings.Repeat("compressible log line\n", 50000))
	writeFile(t, filepath.Join(dir, "small"), "inline")
	command(t, "cp", "--reflink=always", filepath.Join(dir, "random"), filepath.Join(dir, "copy"))
	f, err := os.OpenFile(filepath.Join(dir, "random"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(random[:8192], 256<<10); err != nil { // overwrite inside the extent
		t.Fatal(err)
	}
	f.Close()
	command(t, "truncate", "-s", "4M", filepath.Join(dir, "sparse"))
	command(t, "fallocate", "-l", "256K", filepath.Join(dir, "prealloc"))
	if err := exec.Command("sync").Run(); err != nil {
		t.Fatal(err)
	}
	id := ids(list(t, fs))["@data"]
	var disk, uncomp, refd uint64
	seen := map[uint64]bool{}
	kinds := map[uint8]int{}
	var holes int
	err = fs.FileExtents(id, 0, func(e btrfs.FileExtent) error {
		kinds[e.Kind]++
		switch {
		case e.Kind == btrfs.ExtentInline:
			disk += e.InlineBytes
			uncomp += e.RAMBytes
			refd += e.RAMBytes
		case e.DiskBytenr == 0:
			holes++
		default:
			refd += e.NumBytes
			if !seen[e.DiskBytenr] {
				seen[e.DiskBytenr] = true
				disk += e.DiskBytes
				uncomp += e.RAMBytes
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [3]uint64{disk, uncomp, refd}, compsizeTotal(t, dir); got != want {
		t.Errorf("FileExtents: disk, uncompressed, referenced = %v, compsize says %v", got, want)
	}
	if kinds[btrfs.ExtentInline] != 1 || kinds[btrfs.ExtentPrealloc] != 1 || kinds[btrfs.ExtentRegular] < 4 {
		t.Errorf("FileExtents: items by kind %v, want 1 inline, 1 prealloc, at least 4 regular", kinds)
	}

	// 500 files, a snapshot, then 201 files in a new directory: the walk
	// of a second snapshot from the first one's transaction returns the
	// leaves of the new files, not those of the old ones.
	files := func(sub string, n int) {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			writeFile(t, filepath.Join(dir, sub, strconv.Itoa(i)), strings.Repeat("x", 8192))
		}
	}
	files("old", 500)
	if err := fs.Snapshot("@data", "s1", true); err != nil {
		t.Fatal(err)
	}
	files("new", 201)
	if err := fs.Snapshot("@data", "s2", true); err != nil {
		t.Fatal(err)
	}
	subs := ids(list(t, fs))
	s1, err := fs.Info("s1")
	if err != nil {
		t.Fatal(err)
	}
	count := func(id, minTrans uint64) int {
		n := 0
		if err := fs.FileExtents(id, minTrans, func(btrfs.FileExtent) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	all, since := count(subs["s2"], 0), count(subs["s2"], s1.OTransID)
	t.Logf("s2: %d extent items, %d from s1's transaction %d on", all, since, s1.OTransID)
	if all != count(subs["s1"], 0)+201 {
		t.Errorf("s2 has %d extent items, want s1's %d + 201", all, count(subs["s1"], 0))
	}
	if since < 201 || since > all/2 {
		t.Errorf("s2 from s1's transaction: %d items, want the 201 new ones and at most half of all %d", since, all)
	}
}
