package maintain_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
	"github.com/server-impermanence/server-impermanence/internal/overhead/fsoverhead"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// tool runs a command and returns its standard output.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// compsizeDisk returns compsize -b's TOTAL disk, uncompressed and
// referenced bytes of paths.
func compsizeDisk(t *testing.T, paths ...string) overhead.Usage {
	t.Helper()
	for _, l := range strings.Split(tool(t, "compsize", append([]string{"-b"}, paths...)...), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "TOTAL" {
			n := func(s string) uint64 {
				v, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("compsize: %q", l)
				}
				return v
			}
			return overhead.Usage{Disk: n(f[2]), Uncompressed: n(f[3]), Referenced: n(f[4])}
		}
	}
	t.Fatalf("compsize %v: no TOTAL", paths)
	return overhead.Usage{}
}

// fiDuExclusive returns the Exclusive column of btrfs filesystem du -s
// --raw for path.
func fiDuExclusive(t *testing.T, path string) uint64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(tool(t, "btrfs", "filesystem", "du", "-s", "--raw", path)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	v, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatalf("btrfs filesystem du: %q", lines)
	}
	return v
}

func measure(t *testing.T, top string, cfg *config.Config, name string) overhead.Subvolume {
	t.Helper()
	exec.Command("btrfs", "filesystem", "sync", top).Run()
	fsys, err := btrfs.Open(top)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	m, err := fsoverhead.Measure(context.Background(), fsys, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range m.Subvolumes {
		if sv.Name == name {
			return sv
		}
	}
	t.Fatalf("no %s in %+v", name, m)
	return overhead.Subvolume{}
}

// TestOverheadAgreesWithCompsize builds snapshots of @persist that alone
// hold deleted and rewritten files, and checks the measured overhead
// against btrfs filesystem du (one snapshot) and compsize (several): the
// live figures exactly, the bytes only snapshots hold within the inline
// data compsize counts once per snapshot (at most 64 KiB here).
func TestOverheadAgreesWithCompsize(t *testing.T) {
	l := jobtest.New(t, btrfstest.Size(1<<30))
	top := l.FS.Mount
	cfg := config.Default()
	live := filepath.Join(top, "@persist")
	snaps := filepath.Join(top, cfg.Snapshots.Dir, "@persist")
	fsys, err := btrfs.Open(top)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	snapshot := func() string {
		t.Helper()
		n++
		p := filepath.Join(cfg.Snapshots.Dir, "@persist", names.Snapshot(t0.Add(time.Duration(n)*time.Hour), ""))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(top, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Snapshot("@persist", p, true); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(top, p)
	}
	text := strings.Repeat("a line of a compressible log file, with some words in it\n", 40000)
	writeRandom(t, filepath.Join(live, "a"), 3<<20)
	writeRandom(t, filepath.Join(live, "b"), 2<<20)
	if err := os.WriteFile(filepath.Join(live, "log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	syncFS(t, top)

	// One snapshot, then a deleted: btrfs filesystem du says the snapshot
	// alone holds a (incompressible, so logical = on disk).
	s1 := snapshot()
	if sv := measure(t, top, cfg, "@persist"); sv.Exclusive != 0 || sv.Snapshots != 1 {
		t.Errorf("a snapshot sharing everything: %+v, want no exclusive bytes", sv)
	}
	os.Remove(filepath.Join(live, "a"))
	sv := measure(t, top, cfg, "@persist")
	if du := fiDuExclusive(t, s1); sv.ExclusiveUncompressed != du || du != 3<<20 {
		t.Errorf("after deleting a: exclusive %d uncompressed (%d on disk), btrfs filesystem du says %d, want 3 MiB",
			sv.ExclusiveUncompressed, sv.Exclusive, du)
	}

	// More snapshots: the log rewritten (compressed extents held by the
	// snapshots), b deleted after two more, a new file kept live.
	snapshot()
	if err := os.WriteFile(filepath.Join(live, "log"), []byte(strings.ToUpper(text)), 0o644); err != nil {
		t.Fatal(err)
	}
	writeRandom(t, filepath.Join(live, "c"), 1<<20)
	syncFS(t, top)
	snapshot()
	os.Remove(filepath.Join(live, "b"))
	writeRandom(t, filepath.Join(live, "d"), 1<<20)
	syncFS(t, top)
	snapshot()
	os.Remove(filepath.Join(live, "d"))
	sv = measure(t, top, cfg, "@persist")

	entries, err := os.ReadDir(snaps)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{live}
	for _, e := range entries {
		all = append(all, filepath.Join(snaps, e.Name()))
	}
	liveWant, union := compsizeDisk(t, live), compsizeDisk(t, all...)
	if sv.Live != liveWant {
		t.Errorf("live figures %+v, compsize @persist says %+v", sv.Live, liveWant)
	}
	const tolerance = 64 << 10
	want := union.Disk - liveWant.Disk
	if sv.Exclusive > want || want-sv.Exclusive > tolerance {
		t.Errorf("exclusive %d bytes on disk, compsize (live and snapshots) - compsize (live) = %d, want within %d below",
			sv.Exclusive, want, tolerance)
	}
	// What it is made of: a, b, d (5 MiB + 1 MiB incompressible) and
	// the first log's compressed extents.
	if sv.Exclusive < 6<<20 || sv.Exclusive > 6<<20+uint64(len(text)) || sv.ExclusiveUncompressed < 6<<20+uint64(len(text)) {
		t.Errorf("exclusive %d on disk, %d uncompressed; want a, b, d and the compressed log", sv.Exclusive, sv.ExclusiveUncompressed)
	}
	if sv.Snapshots != 4 || sv.Walks != 4 || sv.FullWalks != 1 {
		t.Errorf("walks: %+v, want 4 snapshots, 1 read whole", sv)
	}
	if sv.CompressionRatio() < 1.5 {
		t.Errorf("compression ratio %.2f of a mostly compressible @persist, want more than 1.5", sv.CompressionRatio())
	}
	t.Logf("@persist: live %+v, exclusive %d (compsize: %d), ratio %.3f, compression %.2f", sv.Live, sv.Exclusive, want, sv.Ratio(), sv.CompressionRatio())

	// The maintenance run records it; a budget of 15 % is exceeded.
	rep, code := run(t, l, "--skip-scrub", "--skip-balance")
	if code != 0 || rep.Overhead == nil {
		t.Fatalf("maintain: exit %d, %+v\n%s", code, rep, l.Err)
	}
	rec, err := state.Read(l.Env.StateDir(), overhead.Job)
	if err != nil {
		t.Fatal(err)
	}
	var o overhead.Record
	if err := json.Unmarshal(rec.Details, &o); err != nil {
		t.Fatal(err)
	}
	if rec.Result != state.ResultSuccess || o.BudgetPercent != 15 || o.MeasuredAt.IsZero() {
		t.Errorf("record %+v, details %+v", rec, o)
	}
	found := false
	for _, r := range o.Subvolumes {
		if r.Name == "@persist" {
			found = true
			if r.Exclusive != sv.Exclusive || r.Live != sv.Live {
				t.Errorf("recorded %+v, measured %+v", r, sv)
			}
		}
	}
	if !found || !strings.Contains(l.Err.String(), "storage overhead of @persist") || !strings.Contains(l.Err.String(), "over the budget of 15%") {
		t.Errorf("record %+v; log:\n%s", o, l.Err)
	}
}

// TestOverheadBudget: a measurement that outlasts --overhead-budget is
// stopped, recorded interrupted with the previous measurement kept, and
// the run still succeeds; a budget that is not positive is a usage error.
func TestOverheadBudget(t *testing.T) {
	l := jobtest.New(t)
	writeRandom(t, filepath.Join(l.FS.Mount, "@persist", "f"), 1<<20)
	syncFS(t, l.FS.Mount)
	first, code := run(t, l, "--skip-balance", "--skip-scrub")
	if code != 0 || first.Overhead == nil || first.Overhead.Error != "" || first.Overhead.MeasuredAt.IsZero() {
		t.Fatalf("first run: exit %d, overhead %+v", code, first.Overhead)
	}
	rep, code := run(t, l, "--skip-balance", "--skip-scrub", "--overhead-budget", "1ns")
	const msg = "storage overhead: not measured within --overhead-budget 1ns: the previous measurement is kept"
	if code != 0 || rep.Overhead == nil || rep.Overhead.Error != msg || !rep.Overhead.MeasuredAt.Equal(first.Overhead.MeasuredAt) ||
		len(rep.Overhead.Subvolumes) != len(first.Overhead.Subvolumes) {
		t.Fatalf("over-budget run: exit %d, overhead %+v; want exit 0, %q and the first measurement (%v)", code, rep.Overhead, msg, first.Overhead.MeasuredAt)
	}
	r := record(t, l, overhead.Job)
	if r.Result != state.ResultInterrupted || r.Error != msg {
		t.Errorf("overhead record: %q %q; want interrupted, %q", r.Result, r.Error, msg)
	}
	if m := record(t, l, "maintenance"); m.Result != state.ResultSuccess {
		t.Errorf("maintenance record: %q %q; want success", m.Result, m.Error)
	}
	if !strings.Contains(l.Err.String(), msg) {
		t.Errorf("no warning %q in the log:\n%s", msg, l.Err)
	}
	l.Reset()
	if code := maintain.Run(context.Background(), l.Args("--overhead-budget", "0s"), l.Env); code != 2 ||
		!strings.Contains(l.Err.String(), "--overhead-budget 0s: must be positive") {
		t.Errorf("--overhead-budget 0s: exit %d\n%s", code, l.Err)
	}
}
