package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// policyDropIn gives the default layout three schedules: @persist every
// 15 minutes (a named policy), @var-log daily (its own), the others
// [snapshots]'s hourly.
const policyDropIn = `
[[subvolume]]
name   = "@persist"
policy = "db"

[[subvolume]]
name     = "@var-log"
schedule = "daily UTC"

[policy.db]
schedule = "*:0/15 UTC"
`

func policyConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	hourly := strings.Replace(string(config.DefaultTOML()), `schedule  = "hourly"`, `schedule  = "hourly UTC"`, 1)
	if err := os.WriteFile(main, []byte(hourly), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "config.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.d", "10-policy.toml"), []byte(policyDropIn), 0o644); err != nil {
		t.Fatal(err)
	}
	return main
}

func TestDue(t *testing.T) {
	cfg, err := config.Load(policyConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	snaps := func(sv string, ts ...string) []snapshot.Entry {
		var es []snapshot.Entry
		for _, s := range ts {
			es = append(es, snapshot.Entry{Subvolume: sv, Kind: snapshot.KindTimeline, Time: at(s)})
		}
		return es
	}
	manual := snapshot.Entry{Subvolume: "@var-log", Kind: snapshot.KindManual, Time: at("2026-12-07T10:05:00Z")}
	for _, tc := range []struct {
		name    string
		entries []snapshot.Entry
		now     string
		want    map[string]string // subvolume → reason, "+" first when due
	}{
		{"none yet", nil, "2026-12-07T10:00:00Z", map[string]string{
			"@persist": "+no timeline snapshot yet", "@var-log": "+no timeline snapshot yet"}},
		{"a second before the elapse", append(snaps("@persist", "2026-12-07T10:00:01Z"), snaps("@var-log", "2026-12-07T00:00:30Z")...),
			"2026-12-07T10:14:59Z", map[string]string{
				"@persist": `not due: schedule "*:0/15 UTC" next elapses 2026-12-07T10:15:00Z`,
				"@var-log": `not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z`}},
		{"at the elapse", append(snaps("@persist", "2026-12-07T09:00:00Z", "2026-12-07T10:00:01Z"), snaps("@var-log", "2026-12-07T00:00:30Z")...),
			"2026-12-07T10:15:00Z", map[string]string{
				"@persist": `+schedule "*:0/15 UTC" elapsed at 2026-12-07T10:15:00Z`,
				"@var-log": `not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z`}},
		{"missed elapses (the machine was off)", append(snaps("@persist", "2026-12-05T10:00:01Z"), snaps("@var-log", "2026-12-05T00:00:30Z")...),
			"2026-12-07T10:03:00Z", map[string]string{
				"@persist": `+schedule "*:0/15 UTC" elapsed at 2026-12-05T10:15:00Z`,
				"@var-log": `+schedule "daily UTC" elapsed at 2026-12-06T00:00:00Z`}},
		{"a manual snapshot does not count", append(snaps("@persist", "2026-12-07T10:00:01Z"), manual),
			"2026-12-07T10:06:00Z", map[string]string{
				"@persist": `not due: schedule "*:0/15 UTC" next elapses 2026-12-07T10:15:00Z`,
				"@var-log": "+no timeline snapshot yet"}},
		{"newest in the future", append(snaps("@persist", "2030-01-01T00:00:00Z"), snaps("@var-log", "2026-12-07T00:00:30Z")...),
			"2026-12-07T10:06:00Z", map[string]string{
				"@persist": "+its newest timeline snapshot (2030-01-01T00:00:00Z) is in the future: the clock was or is wrong",
				"@var-log": `not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, v := range snapshot.Due(cfg, []string{"@persist", "@var-log"}, tc.entries, at(tc.now), time.UTC) {
				r := v.Reason
				if v.Due {
					r = "+" + r
				}
				got[v.Subvolume] = r
			}
			for sv, want := range tc.want {
				if got[sv] != want {
					t.Errorf("Due(%s) at %s = %q, want %q", sv, tc.now, got[sv], want)
				}
			}
		})
	}
}

// TestSnapshotDue runs impermanence-snapshot --due on a real btrfs at a
// sequence of times: each run takes the subvolumes whose own schedule
// elapsed since their newest snapshot, and says why it skipped the others.
func TestSnapshotDue(t *testing.T) {
	l := jobtest.New(t)
	cfg := policyConfig(t)
	var now time.Time
	l.Env.Now = func() time.Time { return now }
	l.Env.Sleep = func(d time.Duration) { now = now.Add(d) }
	for _, step := range []struct {
		at, want string
	}{
		{"2026-12-07T10:00:10Z", `created @snapshots/@persist/20261207T100010Z
created @snapshots/@var-log/20261207T100010Z
created @snapshots/@var-lib-services/20261207T100010Z
created @snapshots/@var-lib-caddy/20261207T100010Z
`},
		{"2026-12-07T10:10:00Z", `skipped @persist: not due: schedule "*:0/15 UTC" next elapses 2026-12-07T10:15:00Z
skipped @var-log: not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z
skipped @var-lib-services: not due: schedule "hourly UTC" next elapses 2026-12-07T11:00:00Z
skipped @var-lib-caddy: not due: schedule "hourly UTC" next elapses 2026-12-07T11:00:00Z
`},
		{"2026-12-07T10:15:30Z", `created @snapshots/@persist/20261207T101530Z
skipped @var-log: not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z
skipped @var-lib-services: not due: schedule "hourly UTC" next elapses 2026-12-07T11:00:00Z
skipped @var-lib-caddy: not due: schedule "hourly UTC" next elapses 2026-12-07T11:00:00Z
`},
		{"2026-12-07T11:00:05Z", `created @snapshots/@persist/20261207T110005Z
created @snapshots/@var-lib-services/20261207T110005Z
created @snapshots/@var-lib-caddy/20261207T110005Z
skipped @var-log: not due: schedule "daily UTC" next elapses 2026-12-08T00:00:00Z
`},
		{"2026-12-08T00:00:20Z", `created @snapshots/@persist/20261208T000020Z
created @snapshots/@var-log/20261208T000020Z
created @snapshots/@var-lib-services/20261208T000020Z
created @snapshots/@var-lib-caddy/20261208T000020Z
`},
	} {
		now, _ = time.Parse(time.RFC3339, step.at)
		l.Reset()
		code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--due"}, l.Env)
		if code != 0 || l.Out.String() != step.want {
			t.Errorf("snapshot --due at %s: exit %d\n%s\nwant:\n%s\nstderr:\n%s", step.at, code, l.Out, step.want, l.Err)
		}
	}
	rec, err := state.Read(l.Env.StateDir(), "snapshot")
	if err != nil || rec.Result != state.ResultSuccess || rec.Counters["created"] != 4 || rec.Counters["not_due"] != 0 {
		t.Errorf("last record %+v, %v; want success, 4 created, 0 not due", rec, err)
	}
	l.Reset()
	if code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--due", "@persist"}, l.Env); code != 2 {
		t.Errorf("--due with a SUBVOLUME: exit %d, want 2\n%s", code, l.Err)
	}
}
