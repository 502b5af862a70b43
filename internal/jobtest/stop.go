package jobtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// What the tests that stop and kill jobs share (this package's signal
// tests, which run each job in a helper process, and the adversarial
// tier's, which run the built binaries).

// MountsOf lists the mountpoints of device and every mount beneath root
// ("": none) in the caller's mount table, sorted.
func MountsOf(tb testing.TB, device, root string) []string {
	tb.Helper()
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range mounts {
		if m.Source == device || (root != "" && strings.HasPrefix(m.Mountpoint, root+"/")) {
			out = append(out, m.Mountpoint)
		}
	}
	slices.Sort(out)
	return out
}

// OldSnapshots creates n read-only timeline snapshots (empty subvolumes
// named as snapshots) of subvolume in the snapshot directory @snapshots of
// the top level at mount, an hour apart going back from *from (which moves
// on, so that every call makes new ones): work for a prune to delete.
func OldSnapshots(tb testing.TB, mount, subvolume string, from *time.Time, n int) {
	tb.Helper()
	// Opened for this call only: an open top level keeps the filesystem
	// busy for a detach.
	fsys, err := btrfs.Open(mount)
	if err != nil {
		tb.Fatal(err)
	}
	defer fsys.Close()
	if err := os.MkdirAll(filepath.Join(mount, "@snapshots", subvolume), 0o700); err != nil {
		tb.Fatal(err)
	}
	for range n {
		*from = from.Add(-time.Hour)
		p := "@snapshots/" + subvolume + "/" + names.Snapshot(*from, "")
		if err := fsys.CreateSubvolume(p); err != nil {
			tb.Fatal(err)
		}
		if err := fsys.SetReadOnly(p, true); err != nil {
			tb.Fatal(err)
		}
	}
}

// WritableSnapshots lists the snapshots (@snapshots/<subvolume>/<name>) and
// archives (old_roots/<subvolume>/<name>) of the top level at mount that
// are writable: a partial one that would pass for finished.
func WritableSnapshots(tb testing.TB, mount string) []string {
	tb.Helper()
	fsys, err := btrfs.Open(mount)
	if err != nil {
		tb.Fatal(err)
	}
	defer fsys.Close()
	subs, err := fsys.List()
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, s := range subs {
		if (strings.HasPrefix(s.Path, "@snapshots/") || strings.HasPrefix(s.Path, "old_roots/")) &&
			strings.Count(s.Path, "/") == 2 && !s.ReadOnly {
			out = append(out, s.Path)
		}
	}
	return out
}
