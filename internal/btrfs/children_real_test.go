package btrfs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// Children finds the subvolumes that are entries of a directory, as
// GET_SUBVOL_INFO of each sees them, and nothing else: not one deeper
// down, nested in a child, behind a symbolic link, or deleted and waiting
// for the cleaner; ChildrenOf does several directories on two
// filesystems at once.
func TestChildren(t *testing.T) {
	fs, tfs := newFS(t)
	m := tfs.Mount
	create(t, fs, "t/", "t/a", "t/d/", "t/d/deep", "t/a/inner", "sv", "sv/x", "t/gone")
	if err := fs.Snapshot("t/a", "t/b", true); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(m, "t", "l")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(m, "t", "f"), "a file")
	// Deleted and committed, while a descriptor of it is open: its
	// ROOT_ITEM stays with refs 0 (the cleaner takes a root only when the
	// last of its inodes is gone), with no backref.
	gone, err := fs.Info("t/gone")
	if err != nil {
		t.Fatal(err)
	}
	openDir(t, filepath.Join(m, "t", "gone")) // closed at the end
	td := openDir(t, filepath.Join(m, "t"))
	if err := td.DeleteChild("gone"); err != nil {
		t.Fatal(err)
	}
	if err := td.Sync(); err != nil {
		t.Fatal(err)
	}
	if refs, found, err := btrfs.RootItemRefs(fs, gone.ID); err != nil || !found || refs != 0 {
		t.Fatalf("the deleted subvolume's ROOT_ITEM: refs %d, found %t, %v; want 0, true", refs, found, err)
	}

	other, _ := newFS(t)
	create(t, other, "t/", "t/z")

	dirs := []*btrfs.Dir{td, openDir(t, filepath.Join(m, "sv")), openDir(t, filepath.Join(other.Mountpoint(), "t")), td}
	got, err := btrfs.ChildrenOf(dirs)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{filepath.Join(m, "t/a"), filepath.Join(m, "t/b")},
		{filepath.Join(m, "sv/x")},
		{filepath.Join(other.Mountpoint(), "t/z")},
		{filepath.Join(m, "t/a"), filepath.Join(m, "t/b")},
	}
	for i, d := range dirs {
		var names []string
		for _, c := range got[i] {
			names = append(names, filepath.Join(d.Path(), c.Name))
		}
		if diff := cmp.Diff(want[i], names); diff != "" {
			t.Errorf("children of %s (-want +got):\n%s", d.Path(), diff)
			continue
		}
		for _, c := range got[i] {
			info := subvolInfo(t, filepath.Join(d.Path(), c.Name))
			info.Path = ""
			if diff := cmp.Diff(info, c.Subvolume); diff != "" {
				t.Errorf("%s: the root tree's (+) against GET_SUBVOL_INFO's (-):\n%s", c.Name, diff)
			}
		}
	}
	one, err := td.Children()
	if err != nil || len(one) != 2 || one[0].Name != "a" || one[1].Name != "b" || !one[1].ReadOnly || one[0].ReadOnly {
		t.Errorf("Children of t: %v, %v", one, err)
	}
}

// subvolInfo is GET_SUBVOL_INFO of the subvolume root at p.
func subvolInfo(t *testing.T, p string) btrfs.Subvolume {
	t.Helper()
	d := openDir(t, p)
	info, err := d.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info
}
