package snapshot_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

var snapshotted = []string{"@persist", "@var-lib-caddy", "@var-lib-services", "@var-log"}

func run(t *testing.T, l *jobtest.Layout, args ...string) int {
	t.Helper()
	return snapshot.Run(context.Background(), l.Args(args...), l.Env)
}

func list(t *testing.T, l *jobtest.Layout) []snapshot.Entry {
	t.Helper()
	l.Reset()
	if code := run(t, l, "list", "--json"); code != 0 {
		t.Fatalf("list --json: exit %d\n%s", code, l.Err)
	}
	var es []snapshot.Entry
	if err := json.Unmarshal([]byte(l.Out.String()), &es); err != nil {
		t.Fatalf("list --json: %v\n%s", err, l.Out)
	}
	return es
}

func TestSnapshotDefaultLayout(t *testing.T) {
	l := jobtest.New(t)
	if code := run(t, l); code != 0 {
		t.Fatalf("snapshot: exit %d\nstdout:\n%s\nstderr:\n%s", code, l.Out, l.Err)
	}
	es := list(t, l)
	var subs []string
	for _, e := range es {
		subs = append(subs, e.Subvolume)
		if e.Kind != snapshot.KindTimeline || !e.ReadOnly || e.Name != es[0].Name || len(e.Problems) > 0 {
			t.Errorf("entry %+v: want a read-only timeline snapshot named like the others, no problems", e)
		}
		if want := "@snapshots/" + e.Subvolume + "/" + e.Name; e.Path != want {
			t.Errorf("path %s, want %s", e.Path, want)
		}
	}
	if !slices.Equal(subs, snapshotted) {
		t.Errorf("snapshots of %v, want %v", subs, snapshotted)
	}
	// The snapshots dir and its per-subvolume dirs are root-only.
	for _, d := range []string{"@snapshots", "@snapshots/@persist"} {
		fi, err := os.Stat(filepath.Join(l.FS.Mount, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
	rec, err := state.Read(l.Env.StateDir(), "snapshot")
	if err != nil || rec.Result != state.ResultSuccess || rec.Counters["created"] != 4 {
		t.Errorf("state record %+v, %v; want success with 4 created", rec, err)
	}
	evs, err := audit.Read(l.Env.AuditPath())
	if err != nil || len(evs) != 4 || evs[0].Action != "snapshot" || evs[0].Result != audit.ResultSuccess {
		t.Errorf("audit events %+v, %v; want 4 successful snapshots", evs, err)
	}
	// The text listing.
	l.Reset()
	if code := run(t, l, "list"); code != 0 || !strings.HasPrefix(l.Out.String(), "SUBVOLUME ") ||
		strings.Count(l.Out.String(), "timeline") != 4 {
		t.Errorf("list: exit %d\n%s", code, l.Out)
	}
}

func TestSnapshotLabelledAndExpiring(t *testing.T) {
	l := jobtest.New(t)
	if code := run(t, l, "--label", "keep"); code != 0 {
		t.Fatalf("snapshot --label: exit %d\n%s", code, l.Err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	if code := run(t, l, "--label", "tmp", "--expire", "2d", "@persist"); code != 0 {
		t.Fatalf("snapshot --label --expire: exit %d\n%s", code, l.Err)
	}
	// A second unlabelled run in the same second must not collide.
	for range 2 {
		if code := run(t, l, "@persist"); code != 0 {
			t.Fatalf("snapshot @persist: exit %d\n%s", code, l.Err)
		}
	}
	es := list(t, l)
	var tmp, keep int
	timeline := map[string]bool{}
	for _, e := range es {
		switch {
		case e.Label == "keep":
			keep++
			if e.Kind != snapshot.KindManual || !e.Expires.IsZero() || !strings.HasSuffix(e.Name, "-keep") {
				t.Errorf("manual snapshot %+v: want kind manual, no expiry", e)
			}
		case e.Label == "tmp":
			tmp++
			if e.Subvolume != "@persist" || e.Expires.Before(before.Add(48*time.Hour)) || e.Expires.After(time.Now().Add(48*time.Hour)) {
				t.Errorf("expiring snapshot %+v: want @persist, expiry in 2 days", e)
			}
			if _, err := os.Stat(snapshot.MetaPath(filepath.Join(l.FS.Mount, e.Path))); err != nil {
				t.Errorf("sidecar of %s: %v", e.Path, err)
			}
		default:
			timeline[e.Name] = true
		}
	}
	if keep != 4 || tmp != 1 || len(timeline) != 2 {
		t.Errorf("found %d 'keep', %d 'tmp', timeline names %v; want 4, 1 and 2 distinct names\n%+v", keep, tmp, timeline, es)
	}
	l.Reset()
	run(t, l, "list")
	if !strings.Contains(l.Out.String(), "manual") || !strings.Contains(l.Out.String(), " tmp ") {
		t.Errorf("list does not show the manual snapshots:\n%s", l.Out)
	}
}

func TestSnapshotUsage(t *testing.T) {
	l := &jobtest.Layout{Out: &jobtest.SyncBuffer{}, Err: &jobtest.SyncBuffer{}}
	l.Env.Stdout, l.Env.Stderr = l.Out, l.Err
	for _, args := range [][]string{
		{"--expire", "2d"},
		{"--label", "a/b"},
		{"--label", "x", "--expire", "forever"},
		{"--bogus"},
		// list only reads and takes no lock: no --lock-timeout to accept
		// and ignore, no --dry-run, no options of taking a snapshot.
		{"list", "--lock-timeout", "1s"},
		{"list", "--dry-run"},
		{"list", "--label", "x"},
	} {
		if code := snapshot.Run(context.Background(), args, l.Env); code != 2 {
			t.Errorf("snapshot %v: exit %d, want 2\n%s", args, code, l.Err)
		}
	}
	if code := snapshot.Run(context.Background(), []string{"--help"}, l.Env); code != 0 {
		t.Errorf("--help: exit %d", code)
	}
	l.Reset()
	if code := snapshot.Run(context.Background(), []string{"list", "--help"}, l.Env); code != 0 || strings.Contains(l.Err.String(), "lock") {
		t.Errorf("list --help: exit %d, usage mentions a lock = %t; want 0 and no lock:\n%s", code, strings.Contains(l.Err.String(), "lock"), l.Err)
	}
}

// A missing source fails that subvolume only, with a clear message, a
// failed-job record and no partial snapshot; a writable snapshot is reported.
func TestSnapshotMissingSourceAndWritable(t *testing.T) {
	l := jobtest.New(t)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	caddy, err := fsys.Info("@var-lib-caddy")
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.Delete(caddy.ID); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.FS.Mount, "@snapshots/@persist"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Snapshot("@persist", "@snapshots/@persist/20200101T000000Z", false); err != nil {
		t.Fatal(err)
	}
	code := run(t, l)
	if code != 1 {
		t.Fatalf("snapshot with a missing source: exit %d, want 1\n%s", code, l.Err)
	}
	out := l.Out.String() + l.Err.String()
	for _, want := range []string{
		"FAILED @snapshots/@var-lib-caddy/",
		"source subvolume @var-lib-caddy does not exist",
		"1 of 4 snapshots failed",
		"snapshot @snapshots/@persist/20200101T000000Z is writable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	es := list(t, l)
	n := 0
	for _, e := range es {
		if e.Subvolume == "@var-lib-caddy" {
			t.Errorf("partial snapshot left: %+v", e)
		}
		if e.Name != "20200101T000000Z" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d new snapshots, want the other 3", n)
	}
	rec, _ := state.Read(l.Env.StateDir(), "snapshot")
	if rec.Result != state.ResultFailure || !strings.Contains(rec.Error, "1 of 4") || rec.Counters["failed"] != 1 {
		t.Errorf("state record %+v, want a failure with 1 failed", rec)
	}
}

var _ = btrfstest.Size
