package jobtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/provision"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/rollback"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// A job's Run, for the tables below.
type runFunc func(context.Context, []string, job.Env) int

func rollbackRun(ctx context.Context, args []string, env job.Env) int {
	return rollback.Run(ctx, args, rollback.Env{Env: env})
}

// jobs are the helpers that take the filesystem lock, by binary, with
// their state record (in the run directory for the rollback; none for
// provision).
var jobs = []struct {
	program, record string
	run             runFunc
}{
	{"impermanence-snapshot", "snapshot", snapshot.Run},
	{"impermanence-prune", "cleanup", prune.Run},
	{"impermanence-maintain", "maintenance", maintain.Run},
	{"impermanence-restore", "restore", restore.Run},
	{"impermanence-provision", "", provision.Run},
	{"impermanence-rollback", "rollback", rollbackRun},
}

// hostFiles gives the rollback what it reads of the host beneath root: an
// empty kernel command line, a boot id, no resume device.
func hostFiles(t *testing.T, root string) {
	t.Helper()
	for p, c := range map[string]string{"proc/cmdline": "\n", "proc/sys/kernel/random/boot_id": "0123abcd-4567-89ef-0123-456789abcdef\n",
		"sys/power/resume": "0:0\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// changed lists what a run left in the state, run and log directories
// (the lock directory aside).
func changed(t *testing.T, env job.Env) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{env.StateDir(), env.RunDir(), filepath.Dir(env.AuditPath())} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "lock" {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}

// TestUsageErrors: a bad value exits 2 with one line naming the flag or
// argument, before anything is done or recorded.
func TestUsageErrors(t *testing.T) {
	l := jobtest.New(t)
	type tc struct {
		program string
		run     runFunc
		args    []string
		stderr  string
	}
	cases := []tc{
		{"impermanence-snapshot", snapshot.Run, []string{"--label", ""},
			`--label: invalid label "": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`},
		{"impermanence-snapshot", snapshot.Run, []string{"--label", "x", "--expire", ""},
			`invalid --expire "": want a positive time span like 30d`},
		{"impermanence-snapshot", snapshot.Run, []string{"@root"},
			"@root: ephemeral, the next boot resets it from its blank: snapshot the permanent subvolumes that keep its data"},
		{"impermanence-snapshot", snapshot.Run, []string{"--label", "x", "@persist", "@nix"},
			"@nix: the configuration does not snapshot it (snapshot = false); set snapshot = true for it"},
		{"impermanence-snapshot", snapshot.Run, []string{"@nope"}, "@nope: not a subvolume of the configuration"},
		{"impermanence-prune", prune.Run, []string{"--min-free", "-5"}, "--min-free -5: want a percent from 0 to 100"},
		{"impermanence-prune", prune.Run, []string{"--min-free", "101"}, "--min-free 101: want a percent from 0 to 100"},
		{"impermanence-prune", prune.Run, []string{"--min-free", "NaN"}, "--min-free NaN: want a percent from 0 to 100"},
		{"impermanence-prune", prune.Run, []string{"--wait", "-1s"}, "--wait -1s: must not be negative (0: do not wait)"},
	}
	for _, j := range jobs {
		cases = append(cases, tc{j.program, j.run, []string{"--lock-timeout", "-1s"}, "--lock-timeout -1s: must not be negative (0: do not wait)"})
	}
	for _, c := range cases {
		l.Reset()
		code := c.run(context.Background(), l.Args(c.args...), l.Env)
		want := c.program + ": " + c.stderr + "\n"
		if code != job.ExitUsage || l.Err.String() != want || l.Out.String() != "" {
			t.Errorf("%s %q: exit %d, stdout %q, stderr\n%s\nwant exit 2 and stderr\n%s", c.program, c.args, code, l.Out, l.Err, want)
		}
		if got := changed(t, l.Env); len(got) > 0 {
			t.Errorf("%s %q: a usage error left %q", c.program, c.args, got)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(l.FS.Mount, "@snapshots")); len(entries) != 0 {
		t.Errorf("usage errors took snapshots: %v", entries)
	}
}

// TestReadOnlyFilesystem: on a read-only filesystem every job that would
// change it fails (exit 1) saying so, and records the failure; a dry run
// still works.
func TestReadOnlyFilesystem(t *testing.T) {
	l := jobtest.New(t)
	hostFiles(t, l.Env.Root)
	if err := unix.Mount("", l.FS.Mount, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	t.Cleanup(func() { unix.Mount("", l.FS.Mount, "", unix.MS_REMOUNT, "") })
	for _, j := range jobs {
		l.Reset()
		args := l.Args()
		if j.program == "impermanence-restore" {
			args = l.Args("--from", "20260101T000000Z", "@persist")
		}
		code := j.run(context.Background(), args, l.Env)
		msg := fmt.Sprintf("%s is read-only (the mount or the filesystem: btrfs turns a filesystem read-only after an error, see the kernel log): %s changes nothing there; remount it read-write",
			l.FS.Mount, j.program)
		first, _, _ := strings.Cut(l.Err.String(), "\n")
		if j.program == "impermanence-rollback" {
			first, _, _ = strings.Cut(strings.TrimSpace(l.Err.String()[strings.LastIndex(strings.TrimSpace(l.Err.String()), "\n")+1:]), "\n")
		}
		if code != job.ExitFailure || first != j.program+": "+msg {
			t.Errorf("%s on a read-only filesystem: exit %d, stderr\n%s\nwant exit 1 and %q", j.program, code, l.Err, j.program+": "+msg)
		}
		if j.record == "" {
			continue
		}
		dir := l.Env.StateDir()
		if j.program == "impermanence-rollback" {
			dir = l.Env.RunDir()
		}
		r, err := state.Read(dir, j.record)
		if err != nil || r.Result != state.ResultFailure || r.Error != msg {
			t.Errorf("%s: record %+v, %v; want a failure: %s", j.program, r, err, msg)
		}
	}
	l.Reset()
	if code := prune.Run(context.Background(), l.Args("--dry-run"), l.Env); code != 0 {
		t.Errorf("prune --dry-run on a read-only filesystem: exit %d\n%s", code, l.Err)
	}
}
