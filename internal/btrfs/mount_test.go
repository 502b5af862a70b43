package btrfs_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// ours lists the mounts of device in the mount table.
func ours(t *testing.T, device string) []string {
	t.Helper()
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range mounts {
		if m.Source == device {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

// TestMountTopLevel: the top level is reachable through the path
// MountTopLevel returns, read-only when asked, while the mount table shows
// nothing new; closing it leaves nothing.
func TestMountTopLevel(t *testing.T) {
	tfs := btrfstest.New(t)
	before := ours(t, tfs.Device)
	for _, ro := range []bool{true, false} {
		dir, unmount, err := btrfs.MountTopLevel(tfs.Device, ro)
		if err != nil {
			t.Fatal(err)
		}
		fsys, err := btrfs.Open(dir)
		if err != nil {
			t.Fatalf("Open(%s) after MountTopLevel: %v", dir, err)
		}
		if got, err := fsys.MountReadOnly(); err != nil || got != ro {
			t.Errorf("read-only %v: MountReadOnly = %v, %v", ro, got, err)
		}
		err = fsys.CreateSubvolume("@made")
		switch {
		case ro && !errors.Is(err, unix.EROFS):
			t.Errorf("CreateSubvolume through a read-only mount: %v, want EROFS", err)
		case !ro && err != nil:
			t.Errorf("CreateSubvolume: %v", err)
		case !ro:
			if _, err := os.Stat(filepath.Join(tfs.Mount, "@made")); err != nil {
				t.Errorf("the subvolume made through the detached mount: %v", err)
			}
		}
		if diff := cmp.Diff(before, ours(t, tfs.Device)); diff != "" {
			t.Errorf("the mount table changed (-before +after):\n%s", diff)
		}
		// A child process reaches it through the same path.
		if !ro {
			if out, err := exec.Command("ls", "-d", filepath.Join(dir, "@made")).CombinedOutput(); err != nil {
				t.Errorf("ls in a child process: %v: %s", err, out)
			}
		}
		fsys.Close()
		if err := unmount(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s still there after the unmount", dir)
		}
	}
	// Still read-write where it was mounted.
	if err := os.WriteFile(filepath.Join(tfs.Mount, "f"), []byte("x"), 0o644); err != nil {
		t.Errorf("the filesystem's own mount: %v", err)
	}
}

// TestRemoveStaleMounts: the top-level mounts older versions attached in
// the run directory go, only those of the filesystem, only by their names.
func TestRemoveStaleMounts(t *testing.T) {
	tfs := btrfstest.New(t)
	other := btrfstest.New(t)
	runDir := t.TempDir()
	mount := func(dev, name string) string {
		p := filepath.Join(runDir, name)
		os.MkdirAll(p, 0o700)
		if err := unix.Mount(dev, p, "btrfs", 0, "subvolid=5"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(p, unix.MNT_DETACH) })
		return p
	}
	stale := []string{mount(tfs.Device, "rollback-123456"), mount(tfs.Device, "impermanence-snapshot-987")}
	keep := []string{mount(tfs.Device, "lock"), mount(other.Device, "cleanup-42")}
	os.Mkdir(filepath.Join(runDir, "maintenance-7"), 0o700) // an empty leftover directory
	fsys, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	removed, err := btrfs.RemoveStaleMounts("/proc/self/mountinfo", runDir, fsys.FSID())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(stale)
	if diff := cmp.Diff(stale, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	left := append(ours(t, tfs.Device), ours(t, other.Device)...)
	for _, p := range stale {
		if slices.Contains(left, p) {
			t.Errorf("%s still mounted", p)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still there", p)
		}
	}
	for _, p := range keep {
		if !slices.Contains(left, p) {
			t.Errorf("%s was unmounted", p)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, "maintenance-7")); err == nil {
		t.Errorf("the empty leftover directory is still there")
	}
}

// TestMountedSubvolumesThroughDetachedMount: opened through a detached
// mount, which the mount table does not show, the filesystem still finds
// its subvolumes mounted elsewhere (by their source device).
func TestMountedSubvolumesThroughDetachedMount(t *testing.T) {
	tfs := btrfstest.New(t)
	top, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	if err := top.CreateSubvolume("@data"); err != nil {
		t.Fatal(err)
	}
	data := tfs.MountSubvol(t, "@data")
	dir, unmount, err := btrfs.MountTopLevel(tfs.Device, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unmount()
	fsys, err := btrfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	mounted, err := fsys.MountedSubvolumes()
	if err != nil {
		t.Fatal(err)
	}
	sv, err := fsys.Info("@data")
	if err != nil {
		t.Fatal(err)
	}
	id := sv.ID
	var got []string
	for _, m := range append(mounted[5], mounted[id]...) {
		got = append(got, m.Mountpoint)
	}
	if diff := cmp.Diff([]string{tfs.Mount, data}, got); diff != "" {
		t.Errorf("mounted (-want +got):\n%s", diff)
	}
	// Mounted nowhere else: nothing.
	other := btrfstest.New(t)
	unix.Unmount(other.Mount, 0)
	dir2, unmount2, err := btrfs.MountTopLevel(other.Device, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unmount2()
	f2, err := btrfs.Open(dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if m, err := f2.MountedSubvolumes(); err != nil || len(m) != 0 {
		t.Errorf("an unmounted filesystem: mounted %v, %v; want none", m, err)
	}
}

// TestMountTopLevelShowsPaths: a path below a detached top level is shown
// as the device and the path in its top level while it is mounted, and a
// real open's error through it (fd-relative) names that, not the
// descriptor.
func TestMountTopLevelShowsPaths(t *testing.T) {
	tfs := btrfstest.New(t)
	dir, unmount, err := btrfs.MountTopLevel(tfs.Device, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Open(filepath.Join(dir, "old_roots", "missing"))
	shown := btrfs.ShowErr(err)
	if want := "open " + tfs.Device + ":/old_roots/missing: no such file or directory"; shown == nil || shown.Error() != want || !errors.Is(shown, os.ErrNotExist) {
		t.Errorf("ShowErr(%v) = %v, want %q (still ErrNotExist)", err, shown, want)
	}
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	if got := btrfs.ShowPath(dir + "/x"); got != dir+"/x" {
		t.Errorf("ShowPath after the unmount = %q, want %q", got, dir+"/x")
	}
}
