package jobtest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// immutable makes dir (below the test filesystem's mount) immutable, so
// that root too fails to create, rename or delete in it, until the test
// ends.
func immutable(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("chattr +i %s: %v %s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
}

// TestErrorsShowDevicePaths: a job that reaches the filesystem privately
// (--device) and fails on a path below it names the path as
// <device>:/<path> in its report, its log, its state record and its audit
// events, never as the descriptor's /proc/<pid>/fd/<n>/<path>. (The
// operations on a subvolume go relative to an open directory and name
// relative paths; the directories a job creates go by full path.)
func TestErrorsShowDevicePaths(t *testing.T) {
	l := jobtest.New(t)
	hostFiles(t, l.Env.Root)
	ctx := context.Background()
	dev := l.FS.Device
	// restore --path's: a file in a snapshot of @persist.
	os.MkdirAll(filepath.Join(l.FS.Mount, "@persist/srv/d"), 0o755)
	os.WriteFile(filepath.Join(l.FS.Mount, "@persist/srv/d/f"), []byte("x"), 0o644)
	if code := snapshot.Run(ctx, l.Args("--label", "x", "@persist"), l.Env); code != job.ExitOK {
		t.Fatalf("snapshot --label: exit %d\n%s", code, l.Err)
	}
	snaps, _ := os.ReadDir(filepath.Join(l.FS.Mount, "@snapshots/@persist"))
	for _, tc := range []struct {
		name, record string
		setup        func()
		run          func() int
		want         string
	}{
		{"snapshot", "snapshot",
			func() { immutable(t, filepath.Join(l.FS.Mount, "@snapshots")) },
			func() int { return snapshot.Run(ctx, l.DeviceArgs(), l.Env) },
			"mkdir " + dev + ":/@snapshots/@var-log: operation not permitted"},
		{"restore --path", "restore", // cp's own message
			func() { immutable(t, filepath.Join(l.FS.Mount, "@persist/srv/d")) },
			func() int {
				return restore.Run(ctx, l.DeviceArgs("--from", snaps[0].Name(), "--path", "/persist/srv/d/f", "--force"), l.Env)
			},
			"cp: cannot create regular file '" + dev + ":/@persist/srv/d/.f.restore-tmp': Operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			l.Reset()
			code := tc.run()
			if code != job.ExitFailure {
				t.Fatalf("exit %d, want 1\n%s%s", code, l.Out, l.Err)
			}
			for name, text := range map[string]string{"stderr": l.Err.String(), "record": readRecord(t, l.Env, tc.record)} {
				if !strings.Contains(text, tc.want) {
					t.Errorf("the %s does not say %q\n%s", name, tc.want, text)
				}
			}
			l.NoProcPaths(t)
		})
	}
}

func readRecord(t *testing.T, env job.Env, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.StateDir(), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
