package prune_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/prune"
)

// TestPrunePerSubvolumePolicy runs impermanence-prune on a real btrfs with
// three policies: @var-log keeps 2 dailies (its own retention), @persist
// every snapshot younger than a day (a named policy), the others
// [snapshots]'s hourly 24. Each subvolume's snapshots are deleted by its
// own policy only.
func TestPrunePerSubvolumePolicy(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	now := time.Now().UTC().Truncate(time.Second)
	snap := func(sv string, age time.Duration) string {
		return "@snapshots/" + sv + "/" + names.Snapshot(now.Add(-age), "")
	}
	var logs, persist, caddy []string
	for i := range 4 { // daily, the newest a minute old
		logs = append(logs, snap("@var-log", time.Duration(i)*24*time.Hour+time.Hour))
	}
	for _, age := range []time.Duration{time.Hour, 20 * time.Hour, 30 * time.Hour, 50 * time.Hour} {
		persist = append(persist, snap("@persist", age))
	}
	for i := range 3 { // hourly
		caddy = append(caddy, snap("@var-lib-caddy", time.Duration(i+1)*time.Hour))
	}
	fake(t, fsys, append(append(append([]string{}, logs...), persist...), caddy...)...)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "config.d"), 0o755)
	drop := `
[[subvolume]]
name      = "@var-log"
schedule  = "daily"
retention = { daily = 2, min_age = "0" }

[[subvolume]]
name   = "@persist"
policy = "day"

[policy.day]
schedule  = "*:0/15"
retention = { min_age = "1d", keep_min = 1 }
`
	if err := os.WriteFile(filepath.Join(dir, "config.d", "10-policies.toml"), []byte(drop), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Reset()
	if code := prune.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--timezone", "UTC"}, l.Env); code != 0 {
		t.Fatalf("prune: exit %d\n%s\n%s", code, l.Out, l.Err)
	}
	for _, tc := range []struct {
		sv   string
		want []string
	}{
		{"@var-log", logs[:2]},    // the two newest days
		{"@persist", persist[:2]}, // younger than a day
		{"@var-lib-caddy", caddy}, // hourly 24 keeps all three
	} {
		got := paths(t, fsys, "@snapshots/"+tc.sv+"/")
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s after prune: %v, want %v\n%s", tc.sv, got, want, l.Out)
		}
	}
}
