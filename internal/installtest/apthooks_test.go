package installtest

import (
	"bytes"
	"context"
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
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

// hookDir holds the apt hooks of the Debian package.
const hookDir = "../../debian/apt"

// hook runs the apt hook scripts (space-separated in script, each run as
// "$dir/<name>") in one shell, as apt runs them: the scripts' parent is
// that shell, its parent the stand-in for apt. In a private mount
// namespace with its own /run, /var/lib and /var/log, so the real
// impermanence-snapshot the hook runs never touches the host's lock,
// state or audit log. pre, when not empty, runs first in that namespace
// (ending in "&&"), post after the hooks (starting with ";").
func hook(t *testing.T, env []string, pre, script, post string) (string, time.Duration) {
	t.Helper()
	dir, err := filepath.Abs(hookDir)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, n := range strings.Fields(script) {
		calls = append(calls, `"$dir"/`+n)
	}
	inner := "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib && mount -t tmpfs tmpfs /var/log && " + pre +
		" sh -c '" + strings.Join(calls, "; echo \"rc=$?\"; ") + "; echo \"rc=$?\"'" + post
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", inner)
	cmd.Env = append(append(os.Environ(), "dir="+dir), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out), time.Since(start)
}

// TestAptHooks runs the Debian package's DPkg::Pre-Invoke and Post-Invoke
// hooks against a real loop-backed btrfs with the default layout and the
// real impermanence-snapshot: labelled, expiring snapshots once per apt
// run, the exact commit command, a busy lock skipped within seconds, a
// failure that never fails apt, and nothing at all without a configuration.
func TestAptHooks(t *testing.T) {
	for _, tool := range []string{"unshare", "flock", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tfs := btrfstest.New(t)
	var out bytes.Buffer
	if code := provision.Run(context.Background(), []string{"--default", "--mount", tfs.Mount},
		job.Env{Stdout: &out, Stderr: &out, Root: t.TempDir()}); code != job.ExitOK {
		t.Fatalf("provision exit %d\n%s", code, out.String())
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./helpers/snapshot")
	build.Dir = "../.."
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, o)
	}
	os.Rename(filepath.Join(bin, "snapshot"), filepath.Join(bin, "impermanence-snapshot"))
	cfgDir := t.TempDir()
	conf := filepath.Join(cfgDir, "config.toml")
	toml := strings.Replace(string(config.DefaultTOML()), `device = "/dev/disk/by-label/server"`, `device = "`+tfs.Device+`"`, 1)
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + ":" + os.Getenv("PATH")
	configured := []string{path, "SERVER_IMPERMANENCE_CONFIG=" + conf}
	var want []string
	for _, s := range config.Default().Subvolumes {
		if s.Snapshot {
			want = append(want, s.Name)
		}
	}

	t.Run("unconfigured", func(t *testing.T) {
		got, _ := hook(t, []string{path, "SERVER_IMPERMANENCE_CONFIG=" + filepath.Join(cfgDir, "missing.toml")}, "", "apt-pre-invoke apt-post-invoke", "")
		if got != "rc=0\nrc=0\n" {
			t.Errorf("hooks without a configuration printed %q, want nothing and exit 0", got)
		}
	})

	t.Run("snapshots once per apt run, then the notice once", func(t *testing.T) {
		got, _ := hook(t, configured, "", "apt-pre-invoke apt-pre-invoke apt-post-invoke apt-post-invoke", "")
		notice := "server-impermanence: these package changes are on the live root only; the next\n" +
			"boot resets it from its blank. To keep them: rebuild the initrd if a kernel or\n" +
			"its configuration changed (dracut -f), then commit the root as the new blank:\n" +
			"  impermanence-provision --config " + conf + " --commit\n"
		wantOut := "server-impermanence: " + itoa(len(want)) + " snapshot(s) labelled apt before this package change (impermanence-snapshot list)\n" +
			"rc=0\nrc=0\n" + notice + "rc=0\nrc=0\n"
		if got != wantOut {
			t.Errorf("hooks printed:\n%s\nwant:\n%s", got, wantOut)
		}
		for _, sv := range want {
			dir := filepath.Join(tfs.Mount, "@snapshots", sv)
			ents, _ := os.ReadDir(dir)
			var snaps, sidecars int
			for _, e := range ents {
				switch {
				case strings.HasSuffix(e.Name(), "-apt"):
					snaps++
				case strings.HasSuffix(e.Name(), "-apt.json"):
					sidecars++
				}
			}
			if snaps != 1 || sidecars != 1 {
				t.Errorf("%s holds %d apt snapshot(s) and %d expiry sidecar(s), want one of each: %v", dir, snaps, sidecars, ents)
			}
		}
	})

	t.Run("a busy lock is skipped within seconds", func(t *testing.T) {
		fsys, err := btrfs.Open(tfs.Mount)
		if err != nil {
			t.Fatal(err)
		}
		lockPath := lock.Path("/run/server-impermanence/lock", fsys.FSID().String())
		fsys.Close()
		pre := "mkdir -p /run/server-impermanence/lock && { flock " + lockPath + " sleep 60 >/dev/null 2>&1 & holder=$!; } && sleep 0.5 &&"
		got, took := hook(t, configured, pre, "apt-pre-invoke", "; kill $holder")
		if want := "server-impermanence: snapshots before this package change skipped: another job holds the filesystem lock\nrc=0\n"; got != want {
			t.Errorf("with the lock held the hook printed %q, want %q", got, want)
		}
		if took > 10*time.Second {
			t.Errorf("with the lock held the hook took %v, want a few seconds", took)
		}
		t.Logf("busy lock: the hook returned after %v", took)
	})

	t.Run("a failure never fails apt", func(t *testing.T) {
		bad := filepath.Join(cfgDir, "bad.toml")
		os.WriteFile(bad, []byte(strings.Replace(toml, tfs.Device, "/dev/disk/by-label/no-such-filesystem", 1)), 0o644)
		got, _ := hook(t, []string{path, "SERVER_IMPERMANENCE_CONFIG=" + bad}, "", "apt-pre-invoke", "")
		if !strings.HasPrefix(got, "server-impermanence: snapshots before this package change failed") || !strings.HasSuffix(got, "rc=0\n") {
			t.Errorf("with a missing device the hook printed %q, want the failure and exit 0", got)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
