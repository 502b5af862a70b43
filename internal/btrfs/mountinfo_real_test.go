package btrfs_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMountedSubvolumesReal reads the real /proc/self/mountinfo: mounts are
// keyed by subvolume id, also after a rename, and another btrfs with the same
// subvolume ids does not count.
func TestMountedSubvolumesReal(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@a", "@b")
	a1 := tfs.MountSubvol(t, "@a")
	a2 := tfs.MountSubvol(t, "@a")
	b := tfs.MountSubvol(t, "@b")
	other, otherT := newFS(t)
	create(t, other, "@a") // id 256 as well
	otherT.MountSubvol(t, "@a")

	if err := fs.Rename("@a", "@a-renamed"); err != nil {
		t.Fatal(err)
	}
	id := ids(list(t, fs))
	m, err := fs.MountedSubvolumes()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64][]string{}
	for sub, mounts := range m {
		for _, mnt := range mounts {
			got[sub] = append(got[sub], mnt.Mountpoint)
			if sub == id["@a-renamed"] && mnt.Root != "/@a-renamed" {
				t.Errorf("mount of renamed @a: Root = %q, want /@a-renamed", mnt.Root)
			}
		}
		slices.Sort(got[sub])
	}
	want := map[uint64][]string{5: {tfs.Mount}, id["@a-renamed"]: sorted(a1, a2), id["@b"]: {b}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MountedSubvolumes() (-want +got):\n%s", diff)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}
