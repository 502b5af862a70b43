package btrfs_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

func TestDeleteRecursive(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "old_roots/@root/", "@root", "@root/var/lib/", "@root/var/lib/machines",
		"@root/var/lib/machines/inner", "@root/srv", "@keep")
	if err := fs.Snapshot("@root/srv", "@root/srv-ro", true); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename("@root", "old_roots/@root/20261125T204023Z-1a2b3c4d"); err != nil {
		t.Fatal(err)
	}
	// Some data, so that the cleaner has work to do.
	for i := range 200 {
		writeFile(t, filepath.Join(tfs.Mount, "old_roots/@root/20261125T204023Z-1a2b3c4d/var/lib/machines/inner",
			"f"+string(rune('a'+i%26))+strings.Repeat("x", i%50)), strings.Repeat("data", 4096))
	}
	before := ids(list(t, fs))
	root := "old_roots/@root/20261125T204023Z-1a2b3c4d"
	want := []uint64{ // deepest first, by id within a level
		before[root+"/var/lib/machines/inner"],
		before[root+"/var/lib/machines"], before[root+"/srv"], before[root+"/srv-ro"],
		before[root],
	}

	if err := fs.Delete(before[root]); !errors.Is(err, btrfs.ErrNotEmpty) {
		t.Fatalf("Delete(%d) with nested subvolumes = %v, want ErrNotEmpty", before[root], err)
	}
	got, err := fs.DeleteRecursive(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("DeleteRecursive(%s) order (-want +got):\n%s", root, diff)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fs.WaitDeleted(ctx, got, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("WaitDeleted: %d subvolumes cleaned in %v", len(got), time.Since(start))

	after := ids(list(t, fs))
	for _, id := range got {
		if slices.Contains(slices.Collect(maps.Values(after)), id) {
			t.Errorf("subvolume %d still listed after WaitDeleted", id)
		}
	}
	if after["@keep"] == 0 {
		t.Errorf("@keep was deleted too: %v", after)
	}
	if pending := command(t, "btrfs", "subvolume", "list", "-d", tfs.Mount); pending != "" {
		t.Errorf("btrfs subvolume list -d after WaitDeleted:\n%s", pending)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, root)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat %s after delete: %v, want not exist", root, err)
	}
}

func TestDeleteMountedRefused(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@var-log", "@parent", "@parent/sub/", "@parent/sub/@child", "@parent/@other", "@data", "@data/dir/")
	writeFile(t, filepath.Join(tfs.Mount, "@var-log/keep"), "intact")
	writeFile(t, filepath.Join(tfs.Mount, "@parent/sub/@child/keep"), "intact")
	mounted := tfs.MountSubvol(t, "@var-log")
	child := tfs.MountSubvol(t, "@parent/sub/@child")
	// A bind mount of a directory inside a subvolume also pins it.
	bind := t.TempDir()
	if err := unix.Mount(filepath.Join(tfs.Mount, "@data/dir"), bind, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(bind, unix.MNT_DETACH) })
	before := list(t, fs)
	id := ids(before)

	if err := fs.Delete(id["@var-log"]); !errors.Is(err, btrfs.ErrMounted) {
		t.Errorf("Delete(@var-log, mounted) = %v, want ErrMounted", err)
	}
	if err := fs.Delete(id["@data"]); !errors.Is(err, btrfs.ErrMounted) {
		t.Errorf("Delete(@data, bind-mounted directory) = %v, want ErrMounted", err)
	}
	// Still refused after a rename: mounts are matched by subvolid.
	if err := fs.Rename("@var-log", "@var-log.renamed"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Delete(id["@var-log"]); !errors.Is(err, btrfs.ErrMounted) {
		t.Errorf("Delete(@var-log.renamed, mounted) = %v, want ErrMounted", err)
	}
	deleted, err := fs.DeleteRecursive("@parent")
	if !errors.Is(err, btrfs.ErrMounted) || len(deleted) != 0 {
		t.Errorf("DeleteRecursive(@parent) with a mounted nested subvolume = %v, %v; want nothing, ErrMounted", deleted, err)
	}

	if err := fs.Rename("@var-log.renamed", "@var-log"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, list(t, fs)); diff != "" {
		t.Errorf("subvolumes changed by refused deletions (-before +after):\n%s", diff)
	}
	for _, p := range []string{filepath.Join(mounted, "keep"), filepath.Join(child, "keep")} {
		if got := readFile(t, p); got != "intact" {
			t.Errorf("%s = %q, want intact", p, got)
		}
	}
}

// TestDeleteMountinfoRerooted shows that the mount table is read from the
// file given to Open: a line added there is enough to refuse a deletion.
func TestDeleteMountinfoRerooted(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@srv")
	id := ids(list(t, fs))["@srv"]

	real, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := mountinfo.Parse(bytes.NewReader(real))
	if err != nil {
		t.Fatal(err)
	}
	top, _ := mountinfo.At(mounts, tfs.Mount)
	fake := string(real) + "999 1 " + top.Dev + " /@srv /srv rw - btrfs " + tfs.Device +
		" rw,subvolid=" + strconv.FormatUint(id, 10) + ",subvol=/@srv\n"
	path := filepath.Join(t.TempDir(), "mountinfo")
	writeFile(t, path, fake)
	fake2, err := btrfs.Open(tfs.Mount, btrfs.WithMountinfo(path))
	if err != nil {
		t.Fatal(err)
	}
	defer fake2.Close()
	if err := fake2.Delete(id); !errors.Is(err, btrfs.ErrMounted) || !strings.Contains(err.Error(), "/srv") {
		t.Errorf("Delete(@srv) with it mounted in the given mountinfo = %v, want ErrMounted at /srv", err)
	}
	if err := fs.Delete(id); err != nil {
		t.Errorf("Delete(@srv) with the real mountinfo: %v", err)
	}
}

func TestDeleteProtected(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@default")
	id := ids(list(t, fs))["@default"]

	if err := fs.Delete(5); !errors.Is(err, btrfs.ErrProtected) {
		t.Errorf("Delete(5) = %v, want ErrProtected", err)
	}
	command(t, "btrfs", "subvolume", "set-default", strconv.FormatUint(id, 10), tfs.Mount)
	if got, err := fs.DefaultSubvolume(); got != id || err != nil {
		t.Errorf("DefaultSubvolume() = %d, %v, want %d", got, err, id)
	}
	if err := fs.Delete(id); !errors.Is(err, btrfs.ErrProtected) {
		t.Errorf("Delete(default subvolume) = %v, want ErrProtected", err)
	}
	if deleted, err := fs.DeleteRecursive("@default"); !errors.Is(err, btrfs.ErrProtected) {
		t.Errorf("DeleteRecursive(default subvolume) = %v, %v, want ErrProtected", deleted, err)
	}
	if err := fs.Delete(123456); !errors.Is(err, btrfs.ErrNotExist) {
		t.Errorf("Delete(missing id) = %v, want ErrNotExist", err)
	}
}

func TestWaitDeletedRefusesLiveSubvolume(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	create(t, fs, "@live")
	id := ids(list(t, fs))["@live"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fs.WaitDeleted(ctx, []uint64{id}, 0); err == nil || !strings.Contains(err.Error(), "not deleted") {
		t.Errorf("WaitDeleted(live subvolume) = %v, want 'not deleted'", err)
	}
}

// TestDeleteRecursiveReadOnly: a read-only archive holding nested
// subvolumes (read-only themselves, or holding others) is deleted whole:
// the parents are made writable first, which the kernel needs to remove a
// nested subvolume's entry.
func TestDeleteRecursiveReadOnly(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	root := "old_roots/@root/20261125T204023Z-1a2b3c4d"
	create(t, fs, "old_roots/@root/", root, root+"/var/lib/", root+"/var/lib/machines", root+"/var/lib/machines/inner", root+"/leaf")
	for _, p := range []string{root + "/var/lib/machines", root + "/leaf", root} {
		if err := fs.SetReadOnly(p, true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fs.DeleteRecursive(root)
	if err != nil || len(got) != 4 {
		t.Fatalf("DeleteRecursive of a read-only archive: %v, %v", got, err)
	}
	for p := range ids(list(t, fs)) {
		if strings.HasPrefix(p, root) {
			t.Errorf("%s left", p)
		}
	}
}
