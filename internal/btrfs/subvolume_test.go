package btrfs_test

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestCreateSubvolume(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@exists", "old_roots/@root/")
	if err := os.Symlink("old_roots", filepath.Join(tfs.Mount, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want error // nil: created
	}{
		{"@new", nil},
		{"old_roots/@root/20261125T204023Z-1a2b3c4d", nil},
		{"@exists/@nested", nil},
		{"@exists", btrfs.ErrExist},
		{"missing/@x", btrfs.ErrNotExist},
		{"/@abs", btrfs.ErrInvalidPath},
		{"../@up", btrfs.ErrInvalidPath},
		{"old_roots/../../@up", btrfs.ErrInvalidPath},
		{".", btrfs.ErrInvalidPath},
		{"", btrfs.ErrInvalidPath},
		{"link/@x", unix.ELOOP}, // symbolic links are never followed
	} {
		err := fs.CreateSubvolume(tc.path)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("CreateSubvolume(%q) = %v, want %v", tc.path, err, tc.want)
			continue
		}
		if tc.want == nil {
			if _, err := fs.Info(tc.path); err != nil {
				t.Errorf("after CreateSubvolume(%q): %v", tc.path, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "old_roots/@x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CreateSubvolume(link/@x) followed the symlink: stat = %v", err)
	}
}

func TestSnapshot(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@root-blank", "@taken", "plain/", "existing-dir/")
	writeFile(t, filepath.Join(tfs.Mount, "@root-blank/marker"), "blank")

	for _, tc := range []struct {
		name     string
		src, dst string
		readOnly bool
		want     error
	}{
		{"read-only", "@root-blank", "@ro", true, nil},
		{"writable", "@root-blank", "@root.new", false, nil},
		{"into a directory", "@root-blank", "plain/@snap", true, nil},
		{"dst is an existing directory", "@root-blank", "existing-dir", true, btrfs.ErrExist},
		{"dst is an existing subvolume", "@root-blank", "@taken", false, btrfs.ErrExist},
		{"src is a plain directory", "plain", "@x", false, btrfs.ErrNotSubvolume},
		{"src missing", "@missing", "@y", false, btrfs.ErrNotExist},
		{"dst parent missing", "@root-blank", "missing/@z", false, btrfs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fs.Snapshot(tc.src, tc.dst, tc.readOnly)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Snapshot(%s, %s, %t) = %v, want %v", tc.src, tc.dst, tc.readOnly, err, tc.want)
			}
			if err != nil {
				return
			}
			if got := readFile(t, filepath.Join(tfs.Mount, tc.dst, "marker")); got != "blank" {
				t.Errorf("marker in %s = %q, want blank", tc.dst, got)
			}
			src, _ := fs.Info(tc.src)
			dst, err := fs.Info(tc.dst)
			if err != nil || dst.ReadOnly != tc.readOnly || dst.ParentUUID != src.UUID {
				t.Errorf("Info(%s) = %+v, %v, want ReadOnly %t and ParentUUID %v", tc.dst, dst, err, tc.readOnly, src.UUID)
			}
		})
	}
	// `btrfs subvolume snapshot` would have created existing-dir/@root-blank.
	if ents, err := os.ReadDir(filepath.Join(tfs.Mount, "existing-dir")); err != nil || len(ents) != 0 {
		t.Errorf("existing-dir after refused snapshot: %v, %v; want it empty", ents, err)
	}
}

// TestListMatchesProgs compares List with `btrfs subvolume list` and Info.
func TestListMatchesProgs(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@root", "@root/var/lib/", "@root/var/lib/machines", "@root/var/lib/machines/inner",
		"@snapshots", "@snapshots/@root/", "old_roots/@root/", "old_roots/@root/20261125T204023Z-1a2b3c4d")
	for i := range 3 {
		if err := fs.Snapshot("@root", "@snapshots/@root/2026112520000"+strconv.Itoa(i)+"Z", true); err != nil {
			t.Fatal(err)
		}
	}
	// A subvolume moved into a newer one: its parent has a higher id.
	if err := fs.Rename("old_roots/@root/20261125T204023Z-1a2b3c4d", "@snapshots/moved"); err != nil {
		t.Fatal(err)
	}
	// A deleted one that the cleaner has not dropped yet is not listed.
	create(t, fs, "@deleted")
	deleted, _ := fs.Info("@deleted")
	if err := fs.Delete(deleted.ID); err != nil {
		t.Fatal(err)
	}

	subs := list(t, fs)
	if !slices.IsSortedFunc(subs, func(a, b btrfs.Subvolume) int { return cmp.Compare(a.ID, b.ID) }) {
		t.Errorf("List() is not sorted by id: %v", subs)
	}
	type row struct {
		ID, Gen, OGen, Parent uint64
		ParentUUID, UUID      string
		Path                  string
		ReadOnly              bool
	}
	var got []row
	for _, s := range subs {
		parentUUID := "-"
		if !s.ParentUUID.IsZero() {
			parentUUID = s.ParentUUID.String()
		}
		got = append(got, row{s.ID, s.Generation, s.OTransID, s.ParentID, parentUUID, s.UUID.String(), s.Path, s.ReadOnly})
	}
	readOnly := map[string]bool{}
	for line := range strings.Lines(command(t, "btrfs", "subvolume", "list", "-r", tfs.Mount)) {
		readOnly[strings.Fields(line)[8]] = true
	}
	var want []row
	// ID 256 gen 9 cgen 7 top level 5 parent_uuid - uuid 5f0d… path @root
	for line := range strings.Lines(command(t, "btrfs", "subvolume", "list", "-c", "-q", "-u", tfs.Mount)) {
		f := strings.Fields(line)
		id, _ := strconv.ParseUint(f[1], 10, 64)
		gen, _ := strconv.ParseUint(f[3], 10, 64)
		ogen, _ := strconv.ParseUint(f[5], 10, 64)
		parent, _ := strconv.ParseUint(f[8], 10, 64)
		want = append(want, row{id, gen, ogen, parent, f[10], f[12], f[14], readOnly[f[14]]})
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("List() differs from btrfs subvolume list (-progs +ours):\n%s", diff)
	}
	for _, s := range subs {
		info, err := fs.Info(s.Path)
		if err != nil {
			t.Errorf("Info(%s): %v", s.Path, err)
		} else if diff := gocmp.Diff(s, info); diff != "" {
			t.Errorf("Info(%s) differs from List (-list +info):\n%s", s.Path, diff)
		}
	}
	if got := ids(subs)["@snapshots/moved"]; got == 0 {
		t.Errorf("List() lacks @snapshots/moved: %v", subs)
	}
}

func TestSnapshotOTime(t *testing.T) {
	t.Parallel()
	fs, _ := newFS(t)
	create(t, fs, "@var-log", "@snapshots/")
	// otime comes from the kernel's coarse clock, a few ms behind time.Now.
	before := time.Now().Add(-50 * time.Millisecond)
	var names []string
	for i := range 8 {
		name := "@snapshots/" + strconv.Itoa(i)
		if err := fs.Snapshot("@var-log", name, true); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		time.Sleep(2 * time.Millisecond)
	}
	after := time.Now()

	var got []string
	var prev time.Time
	for _, s := range list(t, fs) {
		if !strings.HasPrefix(s.Path, "@snapshots/") {
			continue
		}
		got = append(got, s.Path)
		if s.OTime.Before(prev) || s.OTime.Before(before) || s.OTime.After(after) {
			t.Errorf("%s: otime %v, previous %v, want non-decreasing within [%v, %v]", s.Path, s.OTime, prev, before, after)
		}
		prev = s.OTime
	}
	if diff := gocmp.Diff(names, got); diff != "" {
		t.Errorf("List() snapshot order (-created +listed):\n%s", diff)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@nix", "plain/")
	if err := fs.Snapshot("@nix", "@snap", true); err != nil {
		t.Fatal(err)
	}
	write := func(path string) error {
		return os.WriteFile(filepath.Join(tfs.Mount, path, "f"), []byte("x"), 0o644)
	}
	check := func(path string, want bool) {
		t.Helper()
		if got, err := fs.ReadOnly(path); got != want || err != nil {
			t.Errorf("ReadOnly(%s) = %t, %v, want %t", path, got, err, want)
		}
	}
	check("@nix", false)
	check("@snap", true)
	if err := write("@snap"); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into read-only snapshot: %v, want EROFS", err)
	}
	if err := fs.SetReadOnly("@snap", false); err != nil {
		t.Fatal(err)
	}
	check("@snap", false)
	if err := write("@snap"); err != nil {
		t.Errorf("write into writable snapshot: %v", err)
	}
	if err := fs.SetReadOnly("@nix", true); err != nil {
		t.Fatal(err)
	}
	check("@nix", true)
	if err := write("@nix"); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into @nix after SetReadOnly(true): %v, want EROFS", err)
	}
	if _, err := fs.ReadOnly("plain"); !errors.Is(err, btrfs.ErrNotSubvolume) {
		t.Errorf("ReadOnly(plain) error = %v, want ErrNotSubvolume", err)
	}
	if err := fs.SetReadOnly("plain", true); !errors.Is(err, btrfs.ErrNotSubvolume) {
		t.Errorf("SetReadOnly(plain) = %v, want ErrNotSubvolume", err)
	}
}

// Under a seccomp filter that refuses openat2 (systemd's RestrictSUIDSGID=
// answers ENOSYS) paths are resolved by hand, with the same guarantees.
func TestOpenatFallback(t *testing.T) {
	fs, tfs := newFS(t)
	btrfs.ForceOpenatFallback(fs)
	create(t, fs, "old_roots/@root/")
	if err := os.Symlink("old_roots", filepath.Join(tfs.Mount, "link")); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(tfs.Mount, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", other, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(other, unix.MNT_DETACH) })
	if err := os.Mkdir(filepath.Join(other, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{"@new", nil},
		{"old_roots/@root/20261125T204023Z-1a2b3c4d", nil},
		{"missing/@x", btrfs.ErrNotExist},
		{"link/@x", unix.ELOOP},    // symbolic links are never followed
		{"other/d/@x", unix.EXDEV}, // nor mounts crossed
	} {
		err := fs.CreateSubvolume(tc.path)
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("fallback CreateSubvolume(%q) = %v, want %v", tc.path, err, tc.want)
		}
	}
	if err := fs.Snapshot("@new", "old_roots/@root/snap", true); err != nil {
		t.Errorf("fallback Snapshot: %v", err)
	}
	if ro, err := fs.ReadOnly("old_roots/@root/snap"); err != nil || !ro {
		t.Errorf("fallback ReadOnly = %t, %v; want true", ro, err)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "old_roots/@x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fallback followed the symlink: stat = %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "d/@x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("fallback crossed into the tmpfs: stat = %v", err)
	}
}
