package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// TestChanged snapshots a blank, changes the snapshot and checks that
// Changed finds exactly the changed inodes, with their names.
func TestChanged(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	top := tfs.Mount
	create(t, fs, "@blank")
	for _, d := range []string{"etc", "keep", "gone"} {
		if err := os.Mkdir(filepath.Join(top, "@blank", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(top, "@blank/etc/changed"), "old")
	writeFile(t, filepath.Join(top, "@blank/etc/removed"), "bye")
	writeFile(t, filepath.Join(top, "@blank/etc/read"), "read me")
	writeFile(t, filepath.Join(top, "@blank/keep/same"), "same")
	writeFile(t, filepath.Join(top, "@blank/gone/inner"), "x")
	if err := fs.SetReadOnly("@blank", true); err != nil {
		t.Fatal(err)
	}
	if err := fs.Snapshot("@blank", "@live", false); err != nil {
		t.Fatal(err)
	}
	blank, err := fs.Info("@blank")
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(top, "@live")
	writeFile(t, filepath.Join(live, "etc/changed"), "new content")
	writeFile(t, filepath.Join(live, "etc/added"), "hello")
	if err := os.Remove(filepath.Join(live, "etc/removed")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(live, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(live, "newdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	create(t, fs, "@live/newdir/machines")
	// An atime-only change (relatime updates the atime of a file read for
	// the first time since it was written): moves the inode's transid, not
	// its ctime.
	time.Sleep(10 * time.Millisecond)
	readFile(t, filepath.Join(live, "etc/read"))
	if err := fs.Commit(); err != nil {
		t.Fatal(err)
	}
	info, err := fs.Info("@live")
	if err != nil {
		t.Fatal(err)
	}
	changed, err := fs.Changed(info.ID, blank.Generation)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]btrfs.ChangedInode{}
	for _, c := range changed {
		p, err := fs.InodePath(info.ID, c.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Refs) > 0 && c.Ino != 256 && c.Refs[0].Dir == 256 && c.Refs[0].Name != p {
			t.Errorf("inode %d: ref %q, path %q", c.Ino, c.Refs[0].Name, p)
		}
		got[p] = c
	}
	for _, p := range []string{"", "etc", "etc/changed", "etc/added", "newdir", "etc/read"} {
		if _, ok := got[p]; !ok {
			t.Errorf("Changed: %q missing; got %v", p, keys(got))
		}
	}
	for _, p := range []string{"keep", "keep/same"} {
		if _, ok := got[p]; ok {
			t.Errorf("Changed: unchanged %q reported", p)
		}
	}
	if c := got["etc/added"]; c.Generation <= blank.Generation || c.Size != 5 || len(c.Refs) != 1 || c.Refs[0].Name != "added" {
		t.Errorf("etc/added = %+v, want a new inode of 5 bytes named added", c)
	}
	if c := got["etc/changed"]; c.Generation > blank.Generation || c.Size != 11 {
		t.Errorf("etc/changed = %+v, want an old inode of 11 bytes", c)
	}
	if c := got["newdir"]; len(c.Subvolumes) != 1 || c.Subvolumes[0].Name != "machines" || !c.IsDir() {
		t.Errorf("newdir = %+v, want a directory with nested subvolume machines", c)
	}
	r := got["etc/read"]
	orig, err := fs.Inode(blank.ID, r.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if !r.CTime.Equal(orig.CTime) || r.Size != orig.Size {
		t.Errorf("etc/read: ctime %v size %d, blank %v %d: want equal (atime-only change)", r.CTime, r.Size, orig.CTime, orig.Size)
	}

	// Directory entries of the blank and the live tree.
	etc := got["etc"].Ino
	names := func(id uint64) []string {
		es, err := fs.ReadDir(id, etc)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range es {
			n = append(n, e.Name)
		}
		slices.Sort(n)
		return n
	}
	if b, l := names(blank.ID), names(info.ID); !slices.Equal(b, []string{"changed", "read", "removed"}) ||
		!slices.Equal(l, []string{"added", "changed", "read"}) {
		t.Errorf("ReadDir(etc): blank %v live %v", b, l)
	}
	if _, err := fs.Inode(info.ID, 1<<40); !errors.Is(err, btrfs.ErrNotExist) {
		t.Errorf("Inode(missing) = %v, want ErrNotExist", err)
	}
	// gen 0: every inode.
	all, err := fs.Changed(blank.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 9 {
		t.Errorf("Changed(blank, 0) = %d inodes, want 9", len(all))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
