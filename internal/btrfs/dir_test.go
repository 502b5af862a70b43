package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// TestDir sets the compression property and NoCoW through a subvolume's
// mountpoint, as impermanence-tune does, and checks them with btrfs-progs
// and lsattr.
func TestDir(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@a", "@b")
	writeFile(t, filepath.Join(tfs.Mount, "@a/old"), "data written before NoCoW")
	a := tfs.MountSubvol(t, "@a")
	b := tfs.MountSubvol(t, "@b")

	d := openDir(t, a)
	id, err := d.MountID()
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mounts {
		if m.ID == id {
			found = true
			if m.Mountpoint != a || m.Root != "/@a" || m.FSType != "btrfs" {
				t.Errorf("MountID(%s) = %d, the mount of %s %s at %s; want the btrfs mount of /@a at %s", a, id, m.FSType, m.Root, m.Mountpoint, a)
			}
		}
	}
	if !found {
		t.Errorf("MountID(%s) = %d, not in /proc/self/mountinfo", a, id)
	}

	for _, tc := range []struct {
		set, want, progs string
	}{
		{"zstd", "zstd", "compression=zstd"},
		{"none", "none", "compression=none"},
		{"lzo", "lzo", "compression=lzo"},
		{"", "", ""},
	} {
		if err := d.SetCompression(tc.set); err != nil {
			t.Fatalf("SetCompression(%q): %v", tc.set, err)
		}
		if got, err := d.Compression(); got != tc.want || err != nil {
			t.Errorf("Compression() after SetCompression(%q) = %q, %v, want %q", tc.set, got, err, tc.want)
		}
		if got := strings.TrimSpace(command(t, "btrfs", "property", "get", a, "compression")); got != tc.progs {
			t.Errorf("btrfs property get %s compression after SetCompression(%q) = %q, want %q", a, tc.set, got, tc.progs)
		}
	}
	if err := d.SetCompression("gzip"); err == nil {
		t.Error("SetCompression(gzip) succeeded")
	}

	// NoCoW on a subvolume that already holds data, like chattr +C: the
	// directory and what is created afterwards are NoCoW, the old file not.
	for range 2 { // the second time finds it set
		if err := d.SetNoCoW(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := d.NoCoW(); !got || err != nil {
		t.Errorf("NoCoW() = %t, %v, want true", got, err)
	}
	writeFile(t, filepath.Join(a, "new"), "x")
	for name, want := range map[string]bool{".": true, "new": true, "old": false} {
		attrs := strings.Fields(command(t, "lsattr", "-d", filepath.Join(a, name)))[0]
		if strings.Contains(attrs, "C") != want {
			t.Errorf("lsattr -d %s = %s, want C %t", name, attrs, want)
		}
	}
	if err := d.SetCompression("zstd"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetCompression(zstd) on a NoCoW directory = %v, want EINVAL", err)
	}

	// The kernel refuses NoCoW next to a compression property, as chattr +C
	// finds.
	db := openDir(t, b)
	if err := db.SetCompression("none"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetNoCoW(); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SetNoCoW on a directory with compression none = %v, want EINVAL", err)
	}

	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]error{link: unix.ELOOP, filepath.Join(a, "new"): unix.ENOTDIR, filepath.Join(a, "missing"): unix.ENOENT} {
		if d, err := btrfs.OpenDir(path); !errors.Is(err, want) {
			if err == nil {
				d.Close()
			}
			t.Errorf("OpenDir(%s) = %v, want %v", path, err, want)
		}
	}
}

func openDir(t *testing.T, path string) *btrfs.Dir {
	t.Helper()
	d, err := btrfs.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() }) // before the unmount
	return d
}
