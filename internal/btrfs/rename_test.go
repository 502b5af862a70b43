package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestExchange(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@root", "@root.new")
	writeFile(t, filepath.Join(tfs.Mount, "@root/marker"), "old")
	writeFile(t, filepath.Join(tfs.Mount, "@root.new/marker"), "new")
	mounted := tfs.MountSubvol(t, "@root") // the booted root, as in the initrd
	before := ids(list(t, fs))

	if err := fs.Exchange("@root.new", "@root"); err != nil {
		t.Fatal(err)
	}
	after := ids(list(t, fs))
	if after["@root"] != before["@root.new"] || after["@root.new"] != before["@root"] {
		t.Errorf("ids after Exchange = %v, want swapped from %v", after, before)
	}
	for path, want := range map[string]string{
		filepath.Join(tfs.Mount, "@root/marker"):     "new",
		filepath.Join(tfs.Mount, "@root.new/marker"): "old",
		filepath.Join(mounted, "marker"):             "old", // the mount follows its subvolume
	} {
		if got := readFile(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if err := fs.Exchange("@root", "@missing"); !errors.Is(err, btrfs.ErrNotExist) {
		t.Errorf("Exchange(@root, @missing) = %v, want ErrNotExist", err)
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@root", "@taken", "old_roots/@root/", "plain/", "@other")
	writeFile(t, filepath.Join(tfs.Mount, "plain/f"), "plain")

	for _, tc := range []struct {
		from, to string
		want     error
	}{
		{"@root", "old_roots/@root/20261125T204023Z-1a2b3c4d", nil},
		{"@taken", "@other", btrfs.ErrExist},  // never replaces
		{"plain", "@other/plain", unix.EXDEV}, // never copies across subvolumes
		{"@missing", "@x", btrfs.ErrNotExist},
		{"@other", "/tmp/escape", btrfs.ErrInvalidPath},
		{"@other", "old_roots/../../escape", btrfs.ErrInvalidPath},
	} {
		err := fs.Rename(tc.from, tc.to)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("Rename(%s, %s) = %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
	for _, p := range []string{"old_roots/@root/20261125T204023Z-1a2b3c4d", "@taken", "@other", "plain/f"} {
		if _, err := os.Stat(filepath.Join(tfs.Mount, p)); err != nil {
			t.Errorf("after renames: %v", err)
		}
	}
	for _, p := range []string{"@root", "@other/plain"} {
		if _, err := os.Stat(filepath.Join(tfs.Mount, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after renames: stat %s = %v, want not exist", p, err)
		}
	}
}
