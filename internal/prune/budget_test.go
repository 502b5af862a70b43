package prune_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// TestSpaceBudget: five hourly snapshots of @persist (4 MiB live), the
// three oldest each alone holding a deleted 2 MiB file, and an older
// manual snapshot alone holding 1 MiB: 175 % overhead. With space_budget
// = 100 the cleanup deletes the two oldest timeline snapshots (125 %
// after one, 75 % after two), says why in --dry-run, and never the manual
// one; with a budget it cannot meet it deletes every timeline snapshot
// beyond keep_min and warns.
func TestSpaceBudget(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	l.Env.Now = func() time.Time { return now }
	live := filepath.Join(l.FS.Mount, "@persist")
	put := func(name string, size int) {
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(filepath.Join(live, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := func(age time.Duration, label string) string {
		p := "@snapshots/@persist/" + names.Snapshot(now.Add(-age), label)
		os.MkdirAll(filepath.Join(l.FS.Mount, "@snapshots/@persist"), 0o700)
		if err := fsys.Snapshot("@persist", p, true); err != nil {
			t.Fatal(err)
		}
		return p
	}
	put("base", 4<<20)
	put("d", 1<<20)
	manual := snap(6*time.Hour, "before-upgrade")
	os.Remove(filepath.Join(live, "d"))
	var timeline []string // oldest first
	for i, f := range []string{"a", "b", "c", "", ""} {
		if f != "" {
			put(f, 2<<20)
		}
		timeline = append(timeline, snap(time.Duration(5-i)*time.Hour, ""))
		if f != "" {
			os.Remove(filepath.Join(live, f))
		}
	}
	exec.Command("btrfs", "filesystem", "sync", l.FS.Mount).Run()

	cfgPath := filepath.Join(t.TempDir(), "config.toml")
	writeConfig := func(budget string) {
		b := bytes.Replace(config.DefaultTOML(), []byte("space_budget = 0"), []byte("space_budget = "+budget), 1)
		if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := func(extra ...string) []string {
		return append([]string{"--config", cfgPath, "--mount", l.FS.Mount, "--timezone", "UTC"}, extra...)
	}
	writeConfig("100")
	// The oldest timeline snapshot as a replication target's parent: the
	// budget passes it over and takes the next two instead.
	if err := targetstate.Write(l.Env.StateDir(), targetstate.Record{Target: "usb",
		Subvolumes: map[string]targetstate.Subvolume{"@persist": {Parent: path.Base(timeline[0])}}}); err != nil {
		t.Fatal(err)
	}
	l.Reset()
	if code := prune.Run(context.Background(), args("--dry-run", "--json"), l.Env); code != 0 {
		t.Fatalf("prune --dry-run: exit %d\n%s", code, l.Err)
	}
	var withParent prune.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &withParent); err != nil {
		t.Fatal(err)
	}
	var deletedWithParent []string
	for _, it := range withParent.Plan.Items {
		if it.Delete {
			deletedWithParent = append(deletedWithParent, it.Path)
		}
	}
	slices.Sort(deletedWithParent)
	if want := timeline[1:3]; !slices.Equal(deletedWithParent, want) {
		t.Errorf("with %s a replication parent, the dry run deletes %v, want %v", timeline[0], deletedWithParent, want)
	}
	if err := os.Remove(targetstate.Path(l.Env.StateDir(), "usb")); err != nil {
		t.Fatal(err)
	}
	l.Reset()
	if code := prune.Run(context.Background(), args("--dry-run", "--json"), l.Env); code != 0 {
		t.Fatalf("prune --dry-run: exit %d\n%s", code, l.Err)
	}
	var rep prune.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	const reason = "space budget: the snapshots and archives of @persist hold more than 100 % of its live data alone; deleting the 2 oldest timeline snapshots beyond keep_min leaves 75.0 %"
	var deleted []string
	for _, it := range rep.Plan.Items {
		if it.Delete {
			deleted = append(deleted, it.Path)
			if it.Reason != reason {
				t.Errorf("%s: reason %q, want %q", it.Path, it.Reason, reason)
			}
		}
	}
	slices.Sort(deleted)
	if want := timeline[:2]; !slices.Equal(deleted, want) {
		t.Errorf("dry run deletes %v, want the two oldest timeline snapshots %v", deleted, want)
	}
	l.Reset()
	if code := prune.Run(context.Background(), args("--dry-run"), l.Env); code != 0 || !strings.Contains(l.Out.String(), reason) {
		t.Errorf("prune --dry-run: exit %d, the table does not give the reason:\n%s", code, l.Out)
	}
	if got := paths(t, fsys, "@snapshots/"); len(got) != 6 {
		t.Fatalf("the dry run deleted: %v", got)
	}
	l.Reset()
	if code := prune.Run(context.Background(), args(), l.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, l.Err)
	}
	want := append([]string{manual}, timeline[2:]...)
	slices.Sort(want)
	if got := paths(t, fsys, "@snapshots/"); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}

	// 10 %: the manual snapshot alone holds 25 %; every timeline snapshot
	// but the keep_min newest goes, and a warning says the budget is not met.
	writeConfig("10")
	l.Reset()
	if code := prune.Run(context.Background(), args(), l.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, l.Err)
	}
	want = []string{manual, timeline[4]}
	slices.Sort(want)
	if got := paths(t, fsys, "@snapshots/"); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
	if w := "@persist: the space budget of 10 % cannot be met by deleting timeline snapshots beyond keep_min: 25.0 % would remain"; !strings.Contains(l.Err.String()+l.Out.String(), w) {
		t.Errorf("no warning %q:\n%s%s", w, l.Out, l.Err)
	}
}
