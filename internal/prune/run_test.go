package prune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// fake creates read-only subvolumes at paths (fake-aged snapshots and
// archives: the name carries the age).
func fake(t testing.TB, fsys *btrfs.FS, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Join(fsys.Mountpoint(), filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := fsys.CreateSubvolume(p); err != nil {
			t.Fatal(err)
		}
		if err := fsys.SetReadOnly(p, true); err != nil {
			t.Fatal(err)
		}
	}
}

func open(t testing.TB, l *jobtest.Layout) *btrfs.FS {
	t.Helper()
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

func paths(t testing.TB, fsys *btrfs.FS, prefix string) []string {
	t.Helper()
	subs, err := fsys.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range subs {
		if strings.HasPrefix(s.Path, prefix) {
			out = append(out, s.Path)
		}
	}
	slices.Sort(out)
	return out
}

// Prune 1,000 fake-aged snapshots (one an hour, and a few manual ones) and
// compare what is left with the pure plan; one snapshot to delete is
// mounted: its deletion fails, is reported, and the others go on.
func TestPrune1000AgainstPurePlan(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	now := time.Date(2025, 3, 30, 12, 20, 0, 0, time.UTC)
	l.Env.Now = func() time.Time { return now }
	var rs []retention.Snapshot
	var ps []string
	for i := range 1000 {
		tm := now.Add(-time.Duration(i)*time.Hour - 20*time.Minute)
		label := ""
		if i%250 == 7 {
			label = "manual"
		}
		name := names.Snapshot(tm, label)
		ps = append(ps, "@snapshots/@persist/"+name)
		rs = append(rs, retention.Snapshot{Name: name, Time: tm, Manual: label != ""})
	}
	fake(t, fsys, ps...)
	ds := retention.Select(rs, prune.Policy(config.Default(), time.UTC), now)
	var want []string
	mounted := ""
	for i, d := range ds {
		if d.Keep {
			want = append(want, ps[i])
		} else if mounted == "" {
			mounted = ps[i]
			want = append(want, ps[i]) // its deletion will fail
		}
	}
	slices.Sort(want)
	l.FS.MountSubvol(t, mounted)

	// The dry run deletes nothing and shows the plan.
	if code := prune.Run(context.Background(), l.Args("--dry-run", "--json", "--timezone", "UTC"), l.Env); code != 0 {
		t.Fatalf("prune --dry-run: exit %d\n%s", code, l.Err)
	}
	var rep prune.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if got := len(paths(t, fsys, "@snapshots/")); got != 1000 {
		t.Fatalf("dry run left %d snapshots, want 1000", got)
	}
	if rep.Plan.Deletions() != 1000-len(want)+1 {
		t.Errorf("dry run plans %d deletions, want %d", rep.Plan.Deletions(), 1000-len(want)+1)
	}

	l.Reset()
	code := prune.Run(context.Background(), l.Args("--timezone", "UTC"), l.Env)
	if code != 1 {
		t.Fatalf("prune with a mounted snapshot to delete: exit %d, want 1\n%s", code, l.Err)
	}
	if got := paths(t, fsys, "@snapshots/"); !slices.Equal(got, want) {
		t.Errorf("left %d snapshots, want the %d of the pure plan:\nextra/missing: %v", len(got), len(want), diff(got, want))
	}
	if !strings.Contains(l.Out.String(), "FAILED "+mounted+": ") || !strings.Contains(l.Out.String(), "subvolume is mounted") {
		t.Errorf("the failed deletion is not reported:\n%s", tail(l.Out.String()))
	}
	rec, err := state.Read(l.Env.StateDir(), "cleanup")
	if err != nil || rec.Result != state.ResultFailure || rec.Counters["failed"] != 1 || rec.Counters["deleted"] != int64(1000-len(want)) {
		t.Errorf("state record %+v, %v", rec, err)
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, "+"+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, "-"+x)
		}
	}
	return out
}

func tail(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// Archives: older than keep_days are deleted, nested subvolumes first, never
// below keep_min, never when mounted.
func TestPruneArchives(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	now := time.Date(2025, 3, 30, 12, 0, 0, 0, time.UTC)
	l.Env.Now = func() time.Time { return now }
	var names []string
	for i := range 6 {
		names = append(names, fmt.Sprintf("old_roots/@root/%s-0a1b2c3d", now.AddDate(0, 0, -20*i).Format("20060102T150405Z")))
	}
	for _, p := range names {
		if err := fsys.CreateSubvolume(p); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest has a nested subvolume; the second oldest is mounted.
	if err := os.MkdirAll(filepath.Join(l.FS.Mount, names[5], "var/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.CreateSubvolume(names[5] + "/var/lib/machines"); err != nil {
		t.Fatal(err)
	}
	// The oldest is read-only, as archives are now: its nested subvolume
	// can only go once it is writable again.
	if err := fsys.SetReadOnly(names[5], true); err != nil {
		t.Fatal(err)
	}
	l.FS.MountSubvol(t, names[4])
	// A restore's replaced state (kept, never pruned) and a subvolume that
	// is neither, both writable.
	replaced, other := "old_roots/@persist/20250301T000000Z-replaced", "old_roots/@root/notes"
	for _, p := range []string{replaced, other} {
		os.MkdirAll(filepath.Join(l.FS.Mount, filepath.Dir(p)), 0o700)
		if err := fsys.CreateSubvolume(p); err != nil {
			t.Fatal(err)
		}
	}
	if code := prune.Run(context.Background(), l.Args(), l.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s\n%s", code, l.Out, l.Err)
	}
	// Kept archives and the replaced state are read-only now; not the
	// mounted archive, nor what is not ours.
	for p, want := range map[string]bool{names[0]: true, names[1]: true, names[2]: true, names[4]: false, replaced: true, other: false} {
		if ro, err := fsys.ReadOnly(p); err != nil || ro != want {
			t.Errorf("%s read-only = %t, %v; want %t", p, ro, err, want)
		}
	}
	// keep_min 3, keep_days 30: 0, 20 and 40 days kept (keep_min), 60
	// deleted, 80 mounted, 100 (with its nested subvolume) deleted.
	got := paths(t, fsys, "old_roots/@root/2")
	want := []string{names[4], names[2], names[1], names[0]}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("archives left %v, want %v\n%s", got, want, l.Out)
	}
	if !strings.Contains(l.Out.String()+l.Err.String(), "expired but mounted") {
		t.Errorf("the mounted archive is not reported:\n%s", l.Out)
	}
}
