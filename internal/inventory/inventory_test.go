package inventory

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names/namestest"
)

var now = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

func TestTake(t *testing.T) {
	cfg := config.Default() // @root ephemeral, archived to old_roots
	subvols := []btrfs.Subvolume{
		{Path: "@root"}, {Path: "@root-blank"}, {Path: "old_roots"},
		{Path: "old_roots/@root/20260220T080000Z-1a2b3c4d"},
		{Path: "old_roots/@root/20260101T080000Z-1a2b3c4d"},
		{Path: "old_roots/@root/20260101T080000Z-1a2b3c4d-2"},
		{Path: "old_roots/@root/20260225T080000Z-9f8e7d6c"},
		{Path: "old_roots/@root/20260225T080000Z-9f8e7d6c/var/lib/machines"}, // nested: not an archive
		{Path: "old_roots/@root/junk"},                                       // not an archive name
		{Path: "old_roots/@root/20260101T080000Z-1a2b3c4d-1"},                // counters start at 2
		{Path: "old_roots/@other/20260101T080000Z-1a2b3c4d"},                 // not configured
		{Path: "@snapshots/@persist/20260101T000000Z"},
	}
	want := Inventory{Taken: now, Job: "cleanup", Subvolumes: []Subvolume{{Name: "@root", Count: 4,
		Oldest: time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), Newest: time.Date(2026, 2, 25, 8, 0, 0, 0, time.UTC)}}}
	if diff := cmp.Diff(want, Take(cfg, subvols, "cleanup", now)); diff != "" {
		t.Errorf("Take (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Inventory{Taken: now, Job: "rollback", Subvolumes: []Subvolume{{Name: "@root"}}},
		Take(cfg, nil, "rollback", now)); diff != "" {
		t.Errorf("Take of no archives (-want +got):\n%s", diff)
	}
}

func TestNewest(t *testing.T) {
	run, st, none, bad := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	older := Inventory{Taken: now.Add(-time.Hour), Job: "rollback", Subvolumes: []Subvolume{{Name: "@root", Count: 5}}}
	newer := Inventory{Taken: now, Job: "cleanup", Subvolumes: []Subvolume{{Name: "@root", Count: 3}}}
	if err := Write(run, older); err != nil {
		t.Fatal(err)
	}
	if err := Write(st, newer); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bad, File), []byte("{"), 0o644)
	for _, tc := range []struct {
		name string
		dirs []string
		want Inventory
		ok   bool
		err  bool
	}{
		{"the newer of two", []string{run, st}, newer, true, false},
		{"in either order", []string{st, run}, newer, true, false},
		{"one missing", []string{none, run}, older, true, false},
		{"none", []string{none}, Inventory{}, false, false},
		{"a damaged one beside a good one", []string{bad, run}, older, true, false},
		{"only a damaged one", []string{bad, none}, Inventory{}, false, true},
	} {
		got, ok, err := Newest(tc.dirs...)
		if diff := cmp.Diff(tc.want, got); diff != "" || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: ok %v, err %v (-want +got):\n%s", tc.name, ok, err, diff)
		}
	}
}

// TestTakeNames: the inventory counts the archive names of the edge-case
// table as internal/names parses them, as the rollback and prune do: an
// archive name prune would call unrecognised ("-1", "-02", any
// non-archive) is not an archive here either.
func TestTakeNames(t *testing.T) {
	var subvols []btrfs.Subvolume
	want := Subvolume{Name: "@root"}
	for _, c := range namestest.Cases {
		if !c.Entry() {
			continue
		}
		subvols = append(subvols, btrfs.Subvolume{Path: "old_roots/@root/" + c.Name})
		if !c.Archive {
			continue
		}
		if want.Count == 0 || c.Time.Before(want.Oldest) {
			want.Oldest = c.Time
		}
		if want.Count == 0 || c.Time.After(want.Newest) {
			want.Newest = c.Time
		}
		want.Count++
	}
	for _, n := range []string{"20260101T000000Z-1a2b3c4d-1", "20260101T000000Z-1a2b3c4d-02"} {
		subvols = append(subvols, btrfs.Subvolume{Path: "old_roots/@root/" + n})
	}
	got := Take(config.Default(), subvols, "cleanup", now).Subvolumes
	if diff := cmp.Diff([]Subvolume{want}, got); diff != "" || want.Count == 0 {
		t.Errorf("archives of the edge-case table (-want +got):\n%s", diff)
	}
}
