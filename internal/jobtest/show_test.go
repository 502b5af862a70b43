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
	immutable(t, filepath.Join(l.FS.Mount, "@snapshots"))
	code := snapshot.Run(context.Background(), l.DeviceArgs(), l.Env)
	out := l.Out.String() + l.Err.String()
	if code != job.ExitFailure {
		t.Fatalf("snapshot: exit %d, want 1\n%s", code, out)
	}
	want := "mkdir " + l.FS.Device + ":/@snapshots/@persist: operation not permitted"
	for name, text := range map[string]string{"stdout": l.Out.String(), "stderr": l.Err.String(), "record": readRecord(t, l.Env, "snapshot")} {
		if !strings.Contains(text, want) {
			t.Errorf("the %s does not say %q\n%s", name, want, text)
		}
	}
	l.NoProcPaths(t)
}

func readRecord(t *testing.T, env job.Env, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.StateDir(), name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
