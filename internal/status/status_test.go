package status

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 1, 1, 3, 30, 0, 0, time.UTC)

// healthy is a server where nothing needs attention.
func healthy() Facts {
	h := func(n float64) time.Time { return now.Add(-time.Duration(n * float64(time.Hour))) }
	return Facts{
		Now:    now,
		Config: Config{Path: "/etc/server-impermanence/config.toml", Valid: true, InitrdStale: ptr(false)},
		Rollback: &Rollback{ThisBoot: true, Result: "success", Time: h(3.5), Duration: 0.25,
			Resets:   []Reset{{Subvolume: "@root", Blank: "@root-blank"}},
			Archives: []string{"old_roots/@root/20260101T000000Z-1a2b3c4d"}},
		Subvolumes: []Subvolume{
			{Name: "@root", Archives: &Span{Count: 4, Oldest: h(24 * 12), Newest: h(3.5)}},
			{Name: "@persist", Snapshot: true, Timeline: Span{Count: 24, Oldest: h(23.5), Newest: h(0.5)},
				Manual: Span{Count: 1, Oldest: h(48), Newest: h(48)}, Retention: "keep 3 newest, 24 hourly, 7 daily",
				ScheduleInterval: Duration(time.Hour), Overhead: ptr(Ratio(0.05))},
			{Name: "@var-log", Snapshot: true, Timeline: Span{Count: 24, Oldest: h(23.5), Newest: h(0.5)},
				Retention: "keep 3 newest, 24 hourly, 7 daily", ScheduleInterval: Duration(time.Hour)},
		},
		ArchivesTaken: h(3.5), ArchivesJob: "rollback",
		Filesystem: &Filesystem{UUID: "4e27972f-3d9e-4898-93a8-2b2900df44d8", Label: "server",
			Size: 40 << 30, Free: 31 << 30, Unallocated: 12 << 30},
		Scrub: Scrub{Enabled: true, Started: h(24 * 10), LastCompleted: h(24 * 3), Progress: 1, MaxAge: Duration(5 * 7 * 24 * time.Hour)},
		Jobs: []Job{
			{Job: "snapshot", Result: "success", LastRun: h(0.5), LastSuccess: h(0.5), Duration: 0.1},
			{Job: "cleanup", Result: "success", LastRun: h(3.25), LastSuccess: h(3.25), Duration: 1.5},
			{Job: "maintenance", Result: "success", LastRun: h(24 * 3), LastSuccess: h(24 * 3), Duration: 42},
			{Job: "send", Result: "success", LastRun: h(2), LastSuccess: h(2), Duration: 3},
		},
		Units: []Unit{
			{Unit: "server-snapshots.service", Loaded: true, ActiveState: "inactive", Result: "success"},
			{Unit: "server-snapshots.timer", Loaded: true, ActiveState: "active", Result: "success",
				LastTrigger: h(0.5), NextElapse: now.Add(30 * time.Minute)},
			{Unit: "server-snapshots-cleanup.timer", Loaded: true, ActiveState: "active", Result: "success",
				NextElapse: now.Add(20*time.Hour + 30*time.Minute)},
			{Unit: "btrfs-maintenance.timer", Loaded: true, ActiveState: "active", Result: "success",
				NextElapse: now.Add(4 * 24 * time.Hour)},
			{Unit: "server-impermanence-scrub.timer", Loaded: true, ActiveState: "active", Result: "success",
				NextElapse: now.Add(4 * 24 * time.Hour)},
			{Unit: "server-impermanence-tune.service", Loaded: false},
			{Unit: "server-impermanence-send@usb.timer", Loaded: true, ActiveState: "active", Result: "success",
				NextElapse: now.Add(22 * time.Hour)},
		},
		Targets: []Target{{Target: "usb", Subvolume: "@persist", LastSuccess: h(2), Newest: h(2.5), Snapshots: 30,
			MaxAge: Duration(48 * time.Hour)}},
		Thresholds: Thresholds{FreeSpaceRatio: 0.1, SnapshotStaleIntervals: 2, ArchiveKeepAge: Duration(30 * 24 * time.Hour),
			ArchiveKeepMin: 3, ArchiveGrace: Duration(24 * time.Hour), SnapshotSlow: Duration(30 * time.Second),
			RollbackSlow: Duration(2 * time.Minute), OverheadBudget: 0.15},
	}
}

func jobOf(f *Facts, name string) *Job {
	for i := range f.Jobs {
		if f.Jobs[i].Job == name {
			return &f.Jobs[i]
		}
	}
	f.Jobs = append(f.Jobs, Job{Job: name})
	return &f.Jobs[len(f.Jobs)-1]
}

// cases are one per kind of problem; alerts are the alerts each raises, in
// the report's order.
var cases = []struct {
	name   string
	change func(f *Facts)
	alerts []string
	exit   int
}{
	{"healthy", func(*Facts) {}, nil, ExitHealthy},
	{"config-invalid", func(f *Facts) {
		f.Config.Valid = false
		f.Config.Error = "/etc/server-impermanence/config.toml:12:3: [[subvolume]] name \"@Root\": not a valid subvolume name"
	}, []string{"ImpermanenceConfigInvalid"}, ExitCritical},
	{"config-missing", func(f *Facts) {
		f.Config.Valid = false
		f.Config.Error = "read config /etc/server-impermanence/config.toml: no configuration file"
	}, []string{"ImpermanenceConfigInvalid"}, ExitCritical},
	{"rollback-refused", func(f *Facts) {
		*f.Rollback = Rollback{ThisBoot: true, Result: "refused", Time: now.Add(-3 * time.Hour), Duration: 0.01,
			Error: "@root: blank @root-blank is missing", What: []string{"create it with impermanence-provision, then reboot"}}
	}, []string{"ImpermanenceRollbackFailed"}, ExitCritical},
	{"rollback-skipped", func(f *Facts) {
		*f.Rollback = Rollback{ThisBoot: true, Result: "skipped", Time: now.Add(-3 * time.Hour),
			Reason: "server-impermanence.rollback=0 on the kernel command line"}
	}, []string{"ImpermanenceRollbackSkipped"}, ExitWarning},
	{"rollback-not-this-boot", func(f *Facts) { f.Rollback.ThisBoot = false; f.Config.InitrdStale = nil },
		[]string{"ImpermanenceRollbackSkipped"}, ExitWarning},
	// A reset from a fallback blank (impermanence_blank_fallback).
	{"blank-fallback", func(f *Facts) {
		f.Rollback.Resets[0] = Reset{Subvolume: "@root", Blank: "@root-blank.20261120T080000Z", Fallback: true}
	}, []string{"ImpermanenceBlankFallback"}, ExitCritical},
	{"rollback-slow", func(f *Facts) { f.Rollback.Duration = 185 }, []string{"ImpermanenceRollbackSlow"}, ExitWarning},
	{"initrd-stale", func(f *Facts) { f.Config.InitrdStale = ptr(true) }, []string{"ImpermanenceInitrdConfigStale"}, ExitWarning},
	{"snapshot-failed", func(f *Facts) {
		j := jobOf(f, "snapshot")
		j.Result, j.Error = "failure", "snapshot @persist to /.snapshots/@persist/20260101T030000Z: no space left on device"
	}, []string{"ImpermanenceSnapshotFailed"}, ExitCritical},
	{"snapshot-hook-failed", func(f *Facts) { jobOf(f, "snapshot").HookFailures = 1 },
		[]string{"ImpermanenceSnapshotHookFailed"}, ExitWarning},
	{"snapshot-slow", func(f *Facts) { jobOf(f, "snapshot").Duration = 45 }, []string{"ImpermanenceSnapshotSlow"}, ExitWarning},
	{"snapshots-stale", func(f *Facts) {
		f.Subvolumes[2].Timeline.Newest = now.Add(-5 * time.Hour)
	}, []string{"ImpermanenceSnapshotsStale"}, ExitWarning},
	{"snapshots-none", func(f *Facts) { f.Subvolumes[2].Timeline = Span{} }, []string{"ImpermanenceSnapshotsStale"}, ExitWarning},
	{"archives-growing", func(f *Facts) {
		f.Subvolumes[0].Archives = &Span{Count: 40, Oldest: now.Add(-40 * 24 * time.Hour), Newest: now.Add(-3 * time.Hour)}
	}, []string{"ImpermanenceArchivesGrowing"}, ExitWarning},
	{"overhead", func(f *Facts) { f.Subvolumes[1].Overhead = ptr(Ratio(0.42)) }, []string{"ImpermanenceOverheadOverBudget"}, ExitWarning},
	{"space-low", func(f *Facts) { f.Filesystem.Free = 3 << 30 }, []string{"ImpermanenceFilesystemSpaceLow"}, ExitWarning},
	{"device-errors", func(f *Facts) {
		f.Filesystem.DeviceErrors = []DeviceError{{Devid: "1", Type: "corruption", Count: 2}, {Devid: "1", Type: "write_io", Count: 17}}
	}, []string{"ImpermanenceDeviceErrors", "ImpermanenceDeviceErrors"}, ExitCritical},
	{"scrub-errors", func(f *Facts) { f.Scrub.Errors = map[string]uint64{"csum": 3} }, []string{"ImpermanenceScrubErrors"}, ExitCritical},
	{"scrub-overdue", func(f *Facts) {
		f.Scrub.LastCompleted = now.Add(-40 * 24 * time.Hour)
		f.Scrub.Started, f.Scrub.Progress = now.Add(-20*24*time.Hour), 0.4
	}, []string{"ImpermanenceScrubOverdue"}, ExitWarning},
	{"scrub-first-pass-overdue", func(f *Facts) {
		f.Scrub.LastCompleted = time.Time{}
		f.Scrub.Started, f.Scrub.Progress = now.Add(-36*24*time.Hour), 0.75
	}, []string{"ImpermanenceScrubOverdue"}, ExitWarning},
	{"job-failed", func(f *Facts) {
		j := jobOf(f, "cleanup")
		j.Result, j.Error = "failure", "delete /.snapshots/@persist/20251201T000000Z: operation not permitted"
	}, []string{"ImpermanenceJobFailed"}, ExitWarning},
	{"restore-failed", func(f *Facts) {
		j := jobOf(f, "restore")
		j.Result, j.LastRun, j.Error = "failure", now.Add(-time.Hour), "swap @persist: interrupted"
	}, []string{"ImpermanenceRestoreFailed"}, ExitCritical},
	{"unit-failed", func(f *Facts) {
		f.Units[0].ActiveState, f.Units[0].Result = "failed", "timeout"
	}, []string{"ImpermanenceUnitFailed"}, ExitWarning},
	{"replication-failed", func(f *Facts) {
		j := jobOf(f, "send")
		j.Result, j.Error = "failure", "target usb: /mnt/usb/backups is not mounted"
	}, []string{"ImpermanenceReplicationFailed"}, ExitWarning},
	{"replication-stale", func(f *Facts) {
		f.Targets[0].LastSuccess, f.Targets[0].Newest = now.Add(-72*time.Hour), now.Add(-73*time.Hour)
	}, []string{"ImpermanenceReplicationStale"}, ExitWarning},
	{"unreadable", func(f *Facts) {
		f.Filesystem = nil
		f.Unreadable = []SourceError{{Source: "filesystem", Error: "btrfs filesystem not found in sysfs (device /dev/disk/by-label/server)"}}
	}, []string{"ImpermanenceCollectorFailing"}, ExitWarning},
	// Snapshots that could not be counted are not stale: unknown.
	{"snapshots-unreadable", func(f *Facts) {
		for i := range f.Subvolumes {
			if f.Subvolumes[i].Snapshot {
				f.Subvolumes[i].SnapshotsUnknown, f.Subvolumes[i].Timeline, f.Subvolumes[i].Manual = true, Span{}, Span{}
			}
		}
		f.Unreadable = []SourceError{{Source: "snapshots", Error: "snapshots: /.snapshots is not mounted"}}
	}, []string{"ImpermanenceCollectorFailing"}, ExitWarning},
	{"systemd-unreadable", func(f *Facts) {
		f.Units = nil
		f.Unreadable = []SourceError{{Source: "systemd", Error: "unit server-snapshots.service: connect to systemd: no bus\n" +
			"unit server-snapshots-cleanup.service: connect to systemd: no bus\nunit btrfs-maintenance.service: connect to systemd: no bus"}}
	}, []string{"ImpermanenceCollectorFailing"}, ExitWarning},
	// Subvolumes with retentions of their own: one line per retention.
	{"retentions", func(f *Facts) {
		f.Subvolumes[2].Retention = "keep 3 newest, 31 daily (policy.logs)"
		f.Subvolumes[2].ScheduleInterval = Duration(24 * time.Hour)
		f.Subvolumes[2].Timeline.Newest = now.Add(-20 * time.Hour)
	}, nil, ExitHealthy},
	// A subvolume name too long for the tables: each row a paragraph.
	{"long-names", func(f *Facts) {
		f.Subvolumes[2].Name = "@var-lib-" + strings.Repeat("long-service-name-", 2) + "data"
	}, nil, ExitHealthy},
	{"several", func(f *Facts) {
		f.Filesystem.Free = 3 << 30
		jobOf(f, "snapshot").Result = "refused"
		f.Config.InitrdStale = ptr(true)
	}, []string{"ImpermanenceSnapshotFailed", "ImpermanenceInitrdConfigStale", "ImpermanenceFilesystemSpaceLow"}, ExitCritical},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got; go test -update to accept):\n%s", path, d)
	}
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := healthy()
			c.change(&f)
			r := Assess(f)
			var alerts []string
			for _, p := range r.Problems {
				alerts = append(alerts, p.Alert)
			}
			if d := cmp.Diff(c.alerts, alerts); d != "" {
				t.Errorf("alerts (-want +got):\n%s", d)
			}
			if got := ExitCode(r); got != c.exit {
				t.Errorf("ExitCode = %d, want %d", got, c.exit)
			}
			if r.Healthy != (len(c.alerts) == 0) {
				t.Errorf("Healthy = %v with %d problems", r.Healthy, len(r.Problems))
			}
			for _, p := range r.Problems {
				if len(p.Commands) == 0 {
					t.Errorf("problem %s has no command", p.Alert)
				}
			}
			var b bytes.Buffer
			if err := Render(&b, r, false); err != nil {
				t.Fatal(err)
			}
			for i, l := range strings.Split(b.String(), "\n") {
				if n := len([]rune(l)); n > Width {
					t.Errorf("line %d is %d columns: %q", i+1, n, l)
				}
			}
			if strings.Contains(b.String(), "\x1b") {
				t.Error("escape sequence without colour")
			}
			golden(t, c.name+".txt", b.Bytes())
		})
	}
}

func TestColour(t *testing.T) {
	f := healthy()
	jobOf(&f, "snapshot").Result = "failure"
	f.Config.InitrdStale = ptr(true)
	var b bytes.Buffer
	if err := Render(&b, Assess(f), true); err != nil {
		t.Fatal(err)
	}
	golden(t, "colour.txt", b.Bytes())
}

func TestJSON(t *testing.T) {
	b, err := json.MarshalIndent(Assess(healthy()), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "healthy.json", append(b, '\n'))
	f := healthy()
	jobOf(&f, "snapshot").Result = "failure"
	b, err = json.MarshalIndent(Assess(f), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(f, back.Facts); d != "" {
		t.Errorf("facts after a JSON round trip (-want +got):\n%s", d)
	}
	if back.Healthy || len(back.Problems) != 1 || back.Problems[0].Alert != "ImpermanenceSnapshotFailed" {
		t.Errorf("JSON round trip = %+v, want one ImpermanenceSnapshotFailed", back)
	}
}

func TestShortDuration(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {29 * time.Second, "29s"}, {59*time.Second + 600*time.Millisecond, "60s"}, {time.Minute, "1min"},
		{59 * time.Minute, "59min"}, {time.Hour, "1h"}, {3*time.Hour + 20*time.Minute, "3h 20min"},
		{24 * time.Hour, "1d"}, {4*24*time.Hour + 6*time.Hour, "4d 6h"}, {-90 * time.Minute, "-1h 30min"},
	} {
		if got := shortDuration(c.in); got != c.want {
			t.Errorf("shortDuration(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc "+strings.Repeat("x", 12)+" d", 8)
	want := []string{"aaa bbb", "ccc", strings.Repeat("x", 12), "d"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("wrap (-want +got):\n%s", d)
	}
}

// notEvaluated are the alert rules the status cannot evaluate, and why.
var notEvaluated = map[string]string{
	"ImpermanenceExporterDown":              "Prometheus's view of the exporter",
	"ImpermanenceFilesystemSpaceExhaustion": "a prediction over six hours of history",
}

// ownTests are the alerts a test of their own raises, by the test.
var ownTests = map[string]string{}

// TestEveryAlertHasACase: every shipped alert rule is raised by one of the
// golden cases or its own test (or is listed in notEvaluated), so a new
// rule gets its problem here too.
func TestEveryAlertHasACase(t *testing.T) {
	rules, err := os.ReadFile("../../exporter/alerts/impermanence.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	raised := map[string]bool{}
	for _, c := range cases {
		for _, a := range c.alerts {
			raised[a] = true
		}
	}
	var rulesSeen []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\w+)$`).FindAllSubmatch(rules, -1) {
		name := string(m[1])
		rulesSeen = append(rulesSeen, name)
		_, skip := notEvaluated[name]
		_, own := ownTests[name]
		if !skip && !own && !raised[name] {
			t.Errorf("alert %s: no golden case raises it (add one, or list it in notEvaluated with why)", name)
		}
	}
	if len(rulesSeen) < 20 {
		t.Fatalf("found %d alert rules, want at least 20: %v", len(rulesSeen), rulesSeen)
	}
	for a := range raised {
		if !slices.Contains(rulesSeen, a) {
			t.Errorf("the status raises %s, which is no shipped alert rule", a)
		}
	}
}

// TestBlankChoices: the blank metrics name the blank of each reset.
func TestBlankChoices(t *testing.T) {
	s := samples{
		"blank_info": {{labels: map[string]string{"subvolume": "@root", "blank": "@root-blank.20261120T080000Z"}, value: 1},
			{labels: map[string]string{"subvolume": "@srv", "blank": "@srv-blank"}, value: 1}},
		"blank_fallback": {{labels: map[string]string{"subvolume": "@root"}, value: 1}, {labels: map[string]string{"subvolume": "@srv"}, value: 0}},
	}
	r := &Rollback{Resets: []Reset{{Subvolume: "@root", Blank: "@root-blank"}, {Subvolume: "@tmp"}}}
	blankChoices(r, s)
	want := []Reset{{Subvolume: "@root", Blank: "@root-blank.20261120T080000Z", Fallback: true}, {Subvolume: "@tmp"},
		{Subvolume: "@srv", Blank: "@srv-blank"}}
	if d := cmp.Diff(want, r.Resets); d != "" {
		t.Errorf("resets (-want +got):\n%s", d)
	}
}
