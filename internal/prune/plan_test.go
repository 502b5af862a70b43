package prune

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
