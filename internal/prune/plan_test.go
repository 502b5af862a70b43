package prune

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestDryRunGolden checks the --dry-run table of a plan with every kind of
// reason: buckets in a DST zone, keep_min, min_age, manual, expired,
// future, unknown and writable snapshots, and archives.
func TestDryRunGolden(t *testing.T) {
	cfg := config.Default()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 10, 27, 3, 10, 0, 0, time.UTC)
	var snaps []snapshot.Entry
	var subvols []btrfs.Subvolume
	id := uint64(300)
	add := func(sv, name string, ro bool, expires time.Time) {
		id++
		tm, label, ok := names.ParseSnapshot(name)
		e := snapshot.Entry{Subvolume: sv, Name: name, Path: "@snapshots/" + sv + "/" + name, ID: id,
			Time: tm, OTime: tm, Label: label, Expires: expires, ReadOnly: ro, Kind: snapshot.KindTimeline}
		switch {
		case !ok:
			e.Kind = snapshot.KindUnknown
		case label != "":
			e.Kind = snapshot.KindManual
		}
		snaps = append(snaps, e)
	}
	// Hourly across the fall-back night, plus older days.
	for t := now.Add(-30 * time.Hour); !t.After(now); t = t.Add(time.Hour) {
		add("@persist", names.Snapshot(t, ""), true, time.Time{})
	}
	add("@persist", names.Snapshot(now.Add(-5*time.Minute), ""), true, time.Time{})
	add("@persist", names.Snapshot(now.Add(2*time.Hour), ""), true, time.Time{})
	add("@persist", names.Snapshot(now.Add(-90*24*time.Hour), "before-upgrade"), true, time.Time{})
	add("@persist", names.Snapshot(now.Add(-10*24*time.Hour), "tmp"), true, now.Add(-24*time.Hour))
	add("@persist", "hand-made", true, time.Time{})
	add("@var-log", names.Snapshot(now.Add(-40*24*time.Hour), ""), true, time.Time{})
	add("@var-log", names.Snapshot(now.Add(-50*24*time.Hour), ""), false, time.Time{})
	for _, a := range []struct {
		name string
		age  time.Duration
	}{{"20240701T000000Z-0a1b2c3d", 0}, {"20240801T000000Z-0a1b2c3d", 0}, {"20240901T000000Z-1a2b3c4d", 0},
		{"20241001T000000Z-2a2b3c4d", 0}, {"20241020T000000Z-3a2b3c4d", 0}, {"20241026T000000Z-4a2b3c4d", 0}} {
		id++
		tm, _ := time.Parse("20060102T150405Z", a.name[:16])
		subvols = append(subvols, btrfs.Subvolume{ID: id, Path: "old_roots/@root/" + a.name, OTime: tm})
	}
	p := Build(cfg, snaps, subvols, nil, berlin, now)
	var b bytes.Buffer
	p.Print(&b)
	golden := filepath.Join("testdata", "dryrun.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("dry-run output (-want +got):\n%s", diff)
	}
}

// TestBuildArchivesWholePlan pins a whole plan over two archived subvolumes:
// the first in config order has no archives (the second's are planned
// all the same), an archive with a nested subvolume that is mounted is
// kept, a subvolume nested in an archive is no archive itself, and a
// snapshot's problems become warnings.
func TestBuildArchivesWholePlan(t *testing.T) {
	cfg := config.Default()
	for i := range cfg.Subvolumes {
		if cfg.Subvolumes[i].Name == "@var-cache" {
			cfg.Subvolumes[i].Archive = true
		}
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := func(days int, boot string) string {
		return names.Archive(now.AddDate(0, 0, -days), boot, 0)
	}
	a1, a2, a3 := old(40, "0a0a0a0a"), old(50, "0b0b0b0b"), old(60, "0c0c0c0c")
	a4, a5 := old(70, "0d0d0d0d"), old(80, "0e0e0e0e")
	subvols := []btrfs.Subvolume{
		{ID: 401, Path: "old_roots/@var-cache/" + a1},
		{ID: 402, Path: "old_roots/@var-cache/" + a2},
		{ID: 403, Path: "old_roots/@var-cache/" + a3},
		{ID: 404, Path: "old_roots/@var-cache/" + a4},
		{ID: 405, Path: "old_roots/@var-cache/" + a4 + "/nested"},
		{ID: 406, Path: "old_roots/@var-cache/" + a5},
		{ID: 407, Path: "old_roots/@var-cache-other/" + a5},
	}
	mounted := map[uint64][]string{405: {"/mnt/nested"}}
	snapTime := now.Add(-time.Hour)
	snaps := []snapshot.Entry{{Subvolume: "@persist", Name: names.Snapshot(snapTime, ""), Path: "@snapshots/@persist/" + names.Snapshot(snapTime, ""),
		ID: 500, Time: snapTime, ReadOnly: true, Kind: snapshot.KindTimeline, Problems: []string{"a problem"}}}
	got := Build(cfg, snaps, subvols, mounted, time.UTC, now)
	want := Plan{
		Items: []Item{
			{Kind: KindSnapshot, Subvolume: "@persist", Path: snaps[0].Path, ID: 500, Time: snapTime, Reason: "keep_min: 1 of the 1 newest; hourly 2026-03-01 11:00 UTC (1/24); daily 2026-03-01 (1/7); weekly 2026-W09 (1/4); monthly 2026-03 (1/12)"},
			{Kind: KindArchive, Subvolume: "@var-cache", Path: subvols[0].Path, ID: 401, Time: now.AddDate(0, 0, -40), Reason: "one of the 3 newest (keep_min)"},
			{Kind: KindArchive, Subvolume: "@var-cache", Path: subvols[1].Path, ID: 402, Time: now.AddDate(0, 0, -50), Reason: "one of the 3 newest (keep_min)"},
			{Kind: KindArchive, Subvolume: "@var-cache", Path: subvols[2].Path, ID: 403, Time: now.AddDate(0, 0, -60), Reason: "one of the 3 newest (keep_min)"},
			{Kind: KindArchive, Subvolume: "@var-cache", Path: subvols[3].Path, ID: 404, Time: now.AddDate(0, 0, -70), Reason: "expired but mounted at /mnt/nested"},
			{Kind: KindArchive, Subvolume: "@var-cache", Path: subvols[5].Path, ID: 406, Time: now.AddDate(0, 0, -80), Delete: true, Reason: "older than 30 days"},
		},
		Warnings: []string{
			snaps[0].Path + ": a problem",
			subvols[3].Path + ": expired but mounted at /mnt/nested: kept",
		},
	}
	// The policies are pinned by the dry-run goldens.
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Plan{}, "Policies")); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
	if n := got.Deletions(); n != 1 {
		t.Errorf("Deletions = %d, want 1", n)
	}
}

// TestDryRunPoliciesGolden: each subvolume's snapshots are pruned by its
// own policy (a named one, its own retention, [snapshots]'s), and the
// dry run shows each effective policy first; snapshots of a subvolume the
// configuration no longer has follow [snapshots].
func TestDryRunPoliciesGolden(t *testing.T) {
	cfg, err := config.Parse(config.Source{Name: "config.toml", Data: []byte(`
device = "/dev/disk/by-label/server"

[[subvolume]]
name       = "@persist"
mountpoint = "/persist"
snapshot   = true

[[subvolume]]
name       = "@db"
mountpoint = "/var/lib/postgresql"
snapshot   = true
policy     = "database"

[[subvolume]]
name       = "@var-log"
mountpoint = "/var/log"
snapshot   = true
schedule   = "daily"
retention  = { daily = 3 }

[policy.database]
schedule  = "*:0/15"
retention = { min_age = "1h", hourly = 2 }

[snapshots]
retention = { hourly = 2, daily = 1, weekly = 0, monthly = 0, keep_min = 1, min_age = "0" }
`)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var snaps []snapshot.Entry
	id := uint64(100)
	add := func(sv string, age time.Duration) {
		id++
		tm := now.Add(-age)
		name := names.Snapshot(tm, "")
		snaps = append(snaps, snapshot.Entry{Subvolume: sv, Name: name, Path: "@snapshots/" + sv + "/" + name, ID: id,
			Time: tm, OTime: tm, ReadOnly: true, Kind: snapshot.KindTimeline})
	}
	for i := range 12 { // every 15 minutes for 3 hours
		add("@db", time.Duration(i)*15*time.Minute)
	}
	for i := range 5 { // daily for 5 days
		add("@var-log", time.Duration(i)*24*time.Hour+time.Minute)
	}
	for i := range 4 { // hourly
		add("@persist", time.Duration(i)*time.Hour)
	}
	add("@gone", 2*time.Hour)
	add("@gone", 50*time.Hour)
	slices.SortFunc(snaps, func(a, b snapshot.Entry) int { return a.Time.Compare(b.Time) })
	p := Build(cfg, snaps, nil, nil, time.UTC, now)
	var b bytes.Buffer
	p.Print(&b)
	golden := filepath.Join("testdata", "dryrun-policies.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("dry-run output (-want +got):\n%s", diff)
	}
}
