package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/rollback"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// fixtureRoot is the exporter's fixture tree: the status reads what the
// exporter reads, so it is tested on the same files.
func fixtureRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../metrics/testdata/host")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// fakeUnits is a metrics.UnitSource over a fixed table, keyed "unit/iface".
type fakeUnits map[string]map[string]any

func (f fakeUnits) Properties(_ context.Context, unit, iface string) (map[string]any, error) {
	if p, ok := f[unit+"/"+iface]; ok {
		return p, nil
	}
	if iface == "Unit" {
		return map[string]any{"LoadState": "not-found", "ActiveState": "inactive"}, nil
	}
	return nil, errors.New("org.freedesktop.DBus.Properties.Error.InterfaceNotFound")
}

func fixtureUnits() fakeUnits {
	return fakeUnits{
		"server-snapshots.service/Unit":     {"LoadState": "loaded", "ActiveState": "inactive"},
		"server-snapshots.service/Service":  {"Result": "success", "ExecMainStatus": int32(0)},
		"btrfs-maintenance.service/Unit":    {"LoadState": "loaded", "ActiveState": "failed"},
		"btrfs-maintenance.service/Service": {"Result": "exit-code", "ExecMainStatus": int32(3)},
		"server-snapshots.timer/Unit":       {"LoadState": "loaded", "ActiveState": "active"},
		"server-snapshots.timer/Timer": {"Result": "success", "LastTriggerUSec": uint64(1767236400000000),
			"NextElapseUSecRealtime": uint64(1767240000000000)},
	}
}

// TestGatherFixture gathers the exporter's fixture tree: every fact the
// status shows, and its report, pinned whole.
func TestGatherFixture(t *testing.T) {
	root := fixtureRoot(t)
	f := Gather(Sources{Paths: metrics.PathsAt(root), Systemd: fixtureUnits(), Timeout: time.Second}, now)
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "fixture-facts.json", bytes.ReplaceAll(append(b, '\n'), []byte(root), []byte("ROOT")))
	var out bytes.Buffer
	if err := Render(&out, Assess(f), false); err != nil {
		t.Fatal(err)
	}
	golden(t, "fixture.txt", bytes.ReplaceAll(out.Bytes(), []byte(root), []byte("ROOT")))
}

// TestRollbackDetails pins the reader of the rollback's Details to the
// record internal/rollback writes.
func TestRollbackDetails(t *testing.T) {
	res := rollback.Result{Result: "success", What: []string{"reboot"}, Reason: "why",
		Plan: &rollback.Plan{
			Steps: []rollback.Step{
				{Op: rollback.OpSnapshot, Subvolume: "@root", From: "@root-blank", Path: "@root.new", Action: "reset"},
				{Op: rollback.OpExchange, Subvolume: "@root", Path: "@root.new", To: "@root", Action: "reset"},
				{Op: rollback.OpCreate, Subvolume: "@tmp", Path: "@tmp.new", Action: "reset"},
				{Op: rollback.OpRename, Subvolume: "@root", Path: "@root.new", To: "old_roots/@root/x", Action: "archive"},
			},
			Archives: []string{"old_roots/@root/x"},
			Warnings: []string{"careful"},
		}}
	details, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	got := rollbackOf(state.Record{Result: "success", Duration: 1, Details: details, LastRun: now}, true)
	want := &Rollback{ThisBoot: true, Result: "success", Time: now, Duration: 1, Reason: "why", What: []string{"reboot"},
		Resets:   []Reset{{Subvolume: "@root", Blank: "@root-blank"}, {Subvolume: "@tmp"}},
		Archives: []string{"old_roots/@root/x"}, Warnings: []string{"careful"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rollbackOf (-want +got):\n%s", d)
	}
}

func runStatus(t *testing.T, terminal bool, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	env := Env{Env: job.Env{Stdout: &o, Stderr: &e, Root: fixtureRoot(t), Now: func() time.Time { return now }},
		Systemd: fixtureUnits(), Terminal: func(io.Writer) bool { return terminal }}
	code = Run(context.Background(), args, env)
	return code, o.String(), e.String()
}

func TestRun(t *testing.T) {
	for _, c := range []struct {
		name     string
		terminal bool
		args     []string
		code     int
		stdout   func(string) bool
		stderr   string
	}{
		// The fixture's restore failed and its device has errors.
		{"text", false, nil, ExitCritical, func(s string) bool {
			return strings.HasPrefix(s, "server-impermanence: ") && !strings.Contains(s, "\x1b")
		}, ""},
		{"terminal", true, nil, ExitCritical, func(s string) bool {
			return strings.Contains(s, red+"CRITICAL"+reset) && strings.Contains(s, yellow+"WARNING"+reset)
		}, ""},
		{"never on a terminal", true, []string{"--color", "never"}, ExitCritical, func(s string) bool { return !strings.Contains(s, "\x1b") }, ""},
		{"always", false, []string{"--color=always"}, ExitCritical, func(s string) bool { return strings.Contains(s, "\x1b") }, ""},
		{"json", true, []string{"--json"}, ExitCritical, func(s string) bool {
			var r Report
			return json.Unmarshal([]byte(s), &r) == nil && !r.Healthy && !strings.Contains(s, "\x1b")
		}, ""},
		{"no systemd", false, []string{"--no-systemd"}, ExitCritical, func(s string) bool { return strings.Contains(s, "units: not read from systemd") }, ""},
		{"bad colour", false, []string{"--color", "sometimes"}, ExitUsage, empty, "impermanence-status: --color \"sometimes\": want auto, always or never\n"},
		{"argument", false, []string{"extra"}, ExitUsage, empty, "impermanence-status: unexpected arguments [\"extra\"]\n"},
		{"empty config", false, []string{"--config", ""}, ExitUsage, empty, "impermanence-status: --config \"\": an empty path\n"},
		{"zero timeout", false, []string{"--timeout", "0s"}, ExitUsage, empty, "impermanence-status: --timeout 0s: must be positive\n"},
		{"missing config", false, []string{"--config", "/nonexistent/config.toml", "--no-systemd"}, ExitCritical,
			func(s string) bool { return strings.Contains(s, "There is no configuration /nonexistent/config.toml") }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runStatus(t, c.terminal, c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, c.code, errOut)
			}
			if !c.stdout(out) {
				t.Errorf("stdout:\n%s", out)
			}
			if errOut != c.stderr {
				t.Errorf("stderr = %q, want %q", errOut, c.stderr)
			}
		})
	}
}

func empty(s string) bool { return s == "" }

func TestHelp(t *testing.T) {
	code, out, errOut := runStatus(t, false, "--help")
	if code != ExitHealthy || out != "" || !strings.Contains(errOut, "Exit status: 0 healthy;") || !strings.Contains(errOut, "-json") {
		t.Errorf("--help: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
}

// TestBuildPolicies: each subvolume shows its effective retention and where
// it comes from, and its own schedule interval when the exporter serves one
// per subvolume.
func TestBuildPolicies(t *testing.T) {
	cfg, err := config.Load("../config/testdata/valid/policies.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := samples{"snapshot_schedule_interval_seconds": {
		{labels: map[string]string{"subvolume": "@db"}, value: 900},
		{labels: map[string]string{}, value: 3600},
	}}
	var f Facts
	build(&f, s, cfg, nil, nil, "config.toml")
	var got []string
	for _, sv := range f.Subvolumes {
		got = append(got, fmt.Sprintf("%s: %s; every %s", sv.Name, sv.Retention, time.Duration(sv.ScheduleInterval)))
	}
	want := []string{
		"@persist: keep 1 newest, 12 hourly, 3 daily, 4 weekly, 12 monthly; all younger than 30min; every 1h0m0s",
		"@db: keep 4 newest, 24 hourly (policy.database); every 15m0s",
		"@var-log: keep 1 newest, 31 daily; all younger than 30min (subvolume); every 1h0m0s",
		"@srv: keep 1 newest, 12 hourly, 3 daily, 4 weekly, 12 monthly; all younger than 30min (policy.inherit); every 1h0m0s",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("subvolumes (-want +got):\n%s", d)
	}
}
