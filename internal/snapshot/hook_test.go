package snapshot_test

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

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// TestDirectHook runs real processes through the direct runner: success
// with the hook's environment, a failure with its exit status and output,
// a hang stopped at the timeout with everything it started, a program that
// does not exist, a user that does not exist.
func TestDirectHook(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	pidFile := filepath.Join(dir, "pid")
	base := snapshot.Hook{Phase: snapshot.PhasePre, Subvolume: "@db", Snapshot: "20261207T100000Z",
		Path: "@snapshots/@db/20261207T100000Z", User: "root", Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name    string
		argv    []string
		user    string
		timeout time.Duration
		result  string
		status  int
		output  string
		maxSecs float64
	}{
		{"success", []string{"/bin/sh", "-c", "env > " + envFile}, "", 0, snapshot.HookSuccess, 0, "", 5},
		{"failure", []string{"/bin/sh", "-c", "echo checkpoint refused >&2; exit 3"}, "", 0, snapshot.HookExitCode, 3, "checkpoint refused\n", 5},
		// The hang: the shell and the sleep it forks are both stopped at
		// the timeout (SIGTERM to the process group).
		{"hang", []string{"/bin/sh", "-c", "echo $$ > " + pidFile + "; sleep 600 & wait"}, "", time.Second, snapshot.HookTimeout, 0, "", 4},
		{"no such program", []string{"/nonexistent/hook"}, "", 0, snapshot.HookError, 0, "", 5},
		{"no such user", []string{"/bin/true"}, "no-such-user-here", 0, snapshot.HookError, 0, "", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := base
			h.Argv = tc.argv
			if tc.user != "" {
				h.User = tc.user
			}
			if tc.timeout > 0 {
				h.Timeout = tc.timeout
			}
			t0 := time.Now()
			r := snapshot.Direct{}.Run(context.Background(), h)
			took := time.Since(t0).Seconds()
			if r.Result != tc.result || r.Status != tc.status || r.Output != tc.output {
				t.Errorf("Run(%v) = %+v, want result %s, status %d, output %q", tc.argv, r, tc.result, tc.status, tc.output)
			}
			if took > tc.maxSecs {
				t.Errorf("Run(%v) took %.1fs, want at most %.0fs", tc.argv, took, tc.maxSecs)
			}
		})
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IMPERMANENCE_HOOK=pre", "IMPERMANENCE_SUBVOLUME=@db", "IMPERMANENCE_SNAPSHOT=20261207T100000Z",
		"IMPERMANENCE_SNAPSHOT_PATH=@snapshots/@db/20261207T100000Z", "USER=root", "HOME="} {
		if !strings.Contains(string(env), "\n"+want) && !strings.HasPrefix(string(env), want) {
			t.Errorf("hook environment lacks %s:\n%s", want, env)
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The hung shell is gone, and so is its process group (the sleep):
	// nothing of the group but zombies (a reparented child waits for its
	// reaper) within a second.
	deadline := time.Now().Add(time.Second)
	for left := liveInGroup(pid); len(left) > 0; left = liveInGroup(pid) {
		if time.Now().After(deadline) {
			t.Errorf("the hung hook's process group %d still runs: %v", pid, left)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// liveInGroup lists the processes of group pgid that are not zombies.
func liveInGroup(pgid int) []string {
	ds, _ := os.ReadDir("/proc")
	var out []string
	for _, d := range ds {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, d.Name()+" "+f[0])
		}
	}
	return out
}

// TestDirectHookUser: a hook runs as hook_user, with that user's groups.
func TestDirectHookUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("changing the user needs root")
	}
	out := filepath.Join(t.TempDir(), "id")
	os.Chmod(filepath.Dir(out), 0o777)
	os.Chmod(filepath.Dir(filepath.Dir(out)), 0o755)
	r := snapshot.Direct{}.Run(context.Background(), snapshot.Hook{Phase: snapshot.PhasePost, Subvolume: "@x",
		Argv: []string{"/bin/sh", "-c", "id -un > " + out}, User: "nobody", Timeout: 5 * time.Second})
	b, _ := os.ReadFile(out)
	if !r.OK() || strings.TrimSpace(string(b)) != "nobody" {
		t.Errorf("hook as nobody: %+v, ran as %q", r, b)
	}
}

// TestSystemdRunArgs pins the transient unit a hook runs in under systemd.
func TestSystemdRunArgs(t *testing.T) {
	h := snapshot.Hook{Phase: snapshot.PhasePre, Subvolume: "@var-lib-postgresql", Snapshot: "20261207T100000Z",
		Path: "@snapshots/@var-lib-postgresql/20261207T100000Z", Argv: []string{"/usr/bin/psql", "-c", "CHECKPOINT"},
		User: "postgres", Timeout: 90 * time.Second}
	want := []string{"/usr/bin/systemd-run", "--wait", "--collect", "--service-type=exec",
		`--unit=server-impermanence-hook-pre-\x40var\x2dlib\x2dpostgresql.service`,
		"--description=pre_snapshot hook of @var-lib-postgresql (server-impermanence)",
		"--uid=postgres", "--property=RuntimeMaxSec=90000000us", "--property=TimeoutStopSec=5s",
		"--setenv=IMPERMANENCE_HOOK=pre", "--setenv=IMPERMANENCE_SUBVOLUME=@var-lib-postgresql",
		"--setenv=IMPERMANENCE_SNAPSHOT=20261207T100000Z", "--setenv=IMPERMANENCE_SNAPSHOT_PATH=@snapshots/@var-lib-postgresql/20261207T100000Z",
		"--", "/usr/bin/psql", "-c", "CHECKPOINT"}
	if diff := cmp.Diff(want, snapshot.SystemdRun{Bin: snapshot.SystemdRunBin}.Args(h)); diff != "" {
		t.Errorf("systemd-run arguments (-want +got):\n%s", diff)
	}
	// systemd-analyze accepts the unit name.
	if bin, err := exec.LookPath("systemd-escape"); err == nil {
		out, err := exec.Command(bin, "--path", "/@var-lib-postgresql").Output()
		if err != nil || !strings.Contains(want[4], strings.TrimSpace(string(out))) {
			t.Errorf("unit name %s does not hold systemd-escape's %q (%v)", want[4], out, err)
		}
	}
}

// TestParseSystemdRun: what systemd-run --wait prints (systemd 252) for
// each way a hook ends.
func TestParseSystemdRun(t *testing.T) {
	exit1 := exec.Command("/bin/false").Run()
	for _, tc := range []struct {
		name, out string
		err       error
		result    string
		status    int
	}{
		{"success", "Running as unit: x.service\nFinished with result: success\nMain processes terminated with: code=exited/status=0\nService runtime: 5ms\n", nil, snapshot.HookSuccess, 0},
		{"exit code", "Running as unit: x.service\nFinished with result: exit-code\nMain processes terminated with: code=exited/status=3\n", exit1, snapshot.HookExitCode, 3},
		{"timeout", "Running as unit: x.service\nFinished with result: timeout\nMain processes terminated with: code=killed/status=TERM\n", exit1, snapshot.HookTimeout, 0},
		{"no bus", "Failed to connect to bus: No such file or directory\n", exit1, snapshot.HookError, 0},
	} {
		var r snapshot.HookResult
		snapshot.ParseSystemdRun(&r, tc.out, tc.err)
		if r.Result != tc.result || r.Status != tc.status {
			t.Errorf("%s: ParseSystemdRun = %+v, want %s status %d", tc.name, r, tc.result, tc.status)
		}
	}
}

// hookConfig is the default layout with hooks on @var-lib-services (the
// pre-hook preArgv, hook_failure failure, a post-hook writing its snapshot
// path into marks) and a pre-hook on @var-log.
func hookConfig(t *testing.T, preArgv, failure, marks string) string {
	t.Helper()
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	drop := `
[[subvolume]]
name          = "@var-lib-services"
pre_snapshot  = ` + preArgv + `
post_snapshot = ["/bin/sh", "-c", "echo \"$IMPERMANENCE_SNAPSHOT_PATH\" > ` + marks + `/post-services"]
hook_timeout  = "1s"
hook_failure  = "` + failure + `"

[[subvolume]]
name          = "@var-log"
pre_snapshot  = ["/bin/sh", "-c", "touch ` + marks + `/pre-log"]
`
	if err := os.WriteFile(main, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "config.d"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "config.d", "10-hooks.toml"), []byte(drop), 0o644); err != nil {
		t.Fatal(err)
	}
	return main
}

// TestSnapshotHooks runs impermanence-snapshot with hooks on a real
// btrfs: a pre-hook that hangs (stopped at hook_timeout) or fails skips
// its subvolume's snapshot, the post-hook still runs, the other
// subvolumes are taken, the run fails with the reason in the record and
// the counters; with hook_failure = "snapshot" the snapshot is taken and
// the run succeeds with the failure counted.
func TestSnapshotHooks(t *testing.T) {
	l := jobtest.New(t)
	for _, tc := range []struct {
		name, pre, failure string
		code               int
		snapped            bool
		result             string
		wantLine           string
	}{
		{"hang", `["/bin/sleep", "600"]`, "skip", 1, false, snapshot.HookTimeout,
			"SKIPPED @snapshots/@var-lib-services/%s: pre_snapshot hook timeout: snapshot skipped (hook_failure = \"skip\")"},
		{"failure", `["/bin/sh", "-c", "exit 7"]`, "skip", 1, false, snapshot.HookExitCode,
			"hook failed for @var-lib-services: pre_snapshot hook /bin/sh -c exit 7: exit-code (exit status 7)"},
		{"failure, snapshot anyway", `["/bin/sh", "-c", "exit 7"]`, "snapshot", 0, true, snapshot.HookExitCode,
			"created @snapshots/@var-lib-services/%s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marks := t.TempDir()
			cfg := hookConfig(t, tc.pre, tc.failure, marks)
			l.Reset()
			t0 := time.Now()
			code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--json"}, l.Env)
			if took := time.Since(t0); took > 10*time.Second {
				t.Errorf("run took %s: the hook's timeout of 1s was not honoured", took)
			}
			var rep snapshot.Report
			if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
				t.Fatalf("exit %d: %v\n%s\n%s", code, err, l.Out, l.Err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, l.Err)
			}
			byName := map[string]snapshot.Result{}
			for _, r := range rep.Snapshots {
				byName[r.Subvolume] = r
			}
			svc := byName["@var-lib-services"]
			if len(svc.Hooks) != 2 || svc.Hooks[0].Result != tc.result || !svc.Hooks[1].OK() || svc.OK != tc.snapped || svc.Skipped == tc.snapped {
				t.Errorf("@var-lib-services: %+v; want the pre-hook %s, the post-hook ok, snapshot taken %t", svc, tc.result, tc.snapped)
			}
			_, statErr := os.Stat(filepath.Join(l.FS.Mount, svc.Path))
			if (statErr == nil) != tc.snapped {
				t.Errorf("snapshot %s exists: %v, want %t", svc.Path, statErr, tc.snapped)
			}
			post, err := os.ReadFile(filepath.Join(marks, "post-services"))
			if err != nil || strings.TrimSpace(string(post)) != svc.Path {
				t.Errorf("post-hook wrote %q, %v; want the snapshot path %s", post, err, svc.Path)
			}
			if _, err := os.Stat(filepath.Join(marks, "pre-log")); err != nil || !byName["@var-log"].OK || len(byName["@var-log"].Hooks) != 1 {
				t.Errorf("@var-log: %+v, its pre-hook's mark: %v; want a snapshot after one hook", byName["@var-log"], err)
			}
			if !byName["@persist"].OK || !byName["@var-lib-caddy"].OK {
				t.Errorf("the subvolumes without hooks: %+v", rep.Snapshots)
			}
			rec, err := state.Read(l.Env.StateDir(), "snapshot")
			wantResult := state.ResultFailure
			if tc.snapped {
				wantResult = state.ResultSuccess
			}
			if err != nil || rec.Result != wantResult || rec.Counters["pre_hook_failed"] != 1 || rec.Counters["post_hook_failed"] != 0 {
				t.Errorf("record %+v, %v; want %s with pre_hook_failed 1", rec, err, wantResult)
			}
			// --dry-run says which hooks would run, as whom, and runs none.
			os.Remove(filepath.Join(marks, "pre-log"))
			l.Reset()
			if code := snapshot.Run(context.Background(), []string{"--config", cfg, "--mount", l.FS.Mount, "--dry-run"}, l.Env); code != 0 {
				t.Errorf("--dry-run: exit %d\n%s", code, l.Err)
			}
			for _, want := range []string{
				"would run pre_snapshot hook of @var-lib-services as root: " + strings.Trim(strings.ReplaceAll(strings.ReplaceAll(tc.pre, `", "`, " "), `"`, ""), "[]") + "\n",
				"would run post_snapshot hook of @var-lib-services as root: /bin/sh -c echo \"$IMPERMANENCE_SNAPSHOT_PATH\" > " + marks + "/post-services\n",
				"would run pre_snapshot hook of @var-log as root: /bin/sh -c touch " + marks + "/pre-log\n",
			} {
				if !strings.Contains(l.Out.String(), want) {
					t.Errorf("--dry-run output lacks %q:\n%s", want, l.Out)
				}
			}
			if _, err := os.Stat(filepath.Join(marks, "pre-log")); err == nil {
				t.Error("--dry-run ran a hook")
			}
			// The text output says it, in one line.
			var text strings.Builder
			rep.Print(&text) // the same report as text, no second run
			want := strings.ReplaceAll(tc.wantLine, "%s", rep.Time.UTC().Format("20060102T150405Z"))
			if !strings.Contains(text.String(), want+"\n") {
				t.Errorf("text report lacks %q:\n%s", want, text.String())
			}
		})
	}
}
