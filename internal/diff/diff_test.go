package diff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// lived builds, on the default layout, a blank with content, a root reset
// from it, then the changes of a lived-in system; it returns the layout and
// the mounted root.
func lived(t *testing.T) (*jobtest.Layout, string) {
	t.Helper()
	l, fsys := layout(t)
	top := l.FS.Mount
	must(t, fsys.SetReadOnly("@root-blank", false))
	blank := filepath.Join(top, "@root-blank")
	files(t, blank, map[string]string{
		"etc/hostname": "blank\n", "etc/motd": "hello\n", "etc/ssh/": "", "var/lib/": "", "var/log/": "",
		"usr/bin/tool": "bin", "gone/a": "aa", "gone/b/c": "ccc", "tmp/": "", "mnt/": "",
	})
	must(t, fsys.SetReadOnly("@root-blank", true))
	if _, err := fsys.DeleteRecursive("@root"); err != nil {
		t.Fatal(err)
	}
	must(t, fsys.Snapshot("@root-blank", "@root", false))

	root := filepath.Join(top, "@root")
	files(t, root, map[string]string{
		"etc/hostname":                   "server-1\n",
		"etc/new.conf":                   "12345",
		"etc/ssh/ssh_host_ed25519_key":   "secret",  // persisted
		"tmp/scratch":                    "x",       // /tmp
		"var/log/journal/system.journal": "journal", // @var-log's mountpoint
		"home/u/notes":                   "abc",
		"mnt/hidden":                     "under a mount",
	})
	must(t, os.Remove(filepath.Join(root, "etc/motd")))
	must(t, os.RemoveAll(filepath.Join(root, "gone")))
	must(t, os.Symlink("hostname", filepath.Join(root, "etc/link")))
	must(t, fsys.CreateSubvolume("@root/var/lib/machines"))
	if _, err := os.ReadFile(filepath.Join(root, "usr/bin/tool")); err != nil { // atime only
		t.Fatal(err)
	}
	// The root mounted, with a mount on its /mnt.
	live := l.FS.MountSubvol(t, "@root")
	mnt := filepath.Join(live, "mnt")
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	// Orphans on @persist.
	files(t, filepath.Join(top, "@persist"), map[string]string{
		"etc/ssh/sshd_config": "Port 22\n", "etc/machine-id": "0123\n", "etc/old-app/conf": "1234",
		"var/lib/systemd/timers/stamp": "", "var/lib/systemd/linger/u": "x", "srv/": "",
	})
	return l, live
}

func TestDiff(t *testing.T) {
	t.Parallel()
	l, _ := lived(t)
	if code := diff.Run(context.Background(), l.Args("@root"), l.Env); code != 0 {
		t.Fatalf("diff: exit %d\n%s", code, l.Err)
	}
	golden(t, "testdata/root.golden", l.Out.String())

	rep := jsonReport(t, l)
	if len(rep.Subvolumes) != 3 {
		t.Fatalf("--json: %d subvolumes, want the 3 ephemeral ones", len(rep.Subvolumes))
	}
	r := rep.Subvolumes[0]
	if r.Name != "@root" || r.Added != 6 || r.Changed != 1 || r.Removed != 5 || r.Since == 0 {
		t.Errorf("--json @root = %+v", r)
	}
	if s := rep.Subvolumes[1]; s.Name != "@var-cache" || len(s.Entries) != 0 {
		t.Errorf("--json @var-cache = %+v, want no entries", s)
	}
	if len(rep.Orphans) != 3 {
		t.Errorf("--json orphans = %+v, want 3", rep.Orphans)
	}
}

func TestDiffRefusesPermanent(t *testing.T) {
	t.Parallel()
	l := jobtest.New(t)
	if code := diff.Run(context.Background(), l.Args("@nix"), l.Env); code != 2 {
		t.Fatalf("diff @nix: exit %d, want 2", code)
	}
	if want := "subvolume @nix is permanent: the boot does not reset it"; !contains(l.Err.String(), want) {
		t.Errorf("stderr = %q, want %q", l.Err, want)
	}
}

// TestDiffNamesRefusedFirst: a SUBVOLUME that is not an ephemeral one of
// the configuration is a usage error, before any device is reached (the
// configured device does not exist here).
func TestDiffNamesRefusedFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"@nope"}, "impermanence-diff: subvolume @nope is not in the configuration\n"},
		{[]string{"@root", "@nix"}, "impermanence-diff: subvolume @nix is permanent: the boot does not reset it, so there is nothing to compare (impermanence-snapshot list @nix shows its snapshots)\n"},
	} {
		var out, errb bytes.Buffer
		code := diff.Run(context.Background(), append([]string{"--default"}, tc.args...), job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir()})
		if code != job.ExitUsage || errb.String() != tc.want || out.Len() != 0 {
			t.Errorf("diff %v: exit %d, stderr %q, stdout %q; want exit 2, stderr %q", tc.args, code, errb.String(), out.String(), tc.want)
		}
	}
}

// layout provisions the default layout on a fresh filesystem and opens its
// top level.
func layout(t *testing.T) (*jobtest.Layout, *btrfs.FS) {
	t.Helper()
	l := jobtest.New(t)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return l, fsys
}

// jsonReport runs diff --json with args on l and decodes the report.
func jsonReport(t *testing.T, l *jobtest.Layout, args ...string) diff.Report {
	t.Helper()
	l.Reset()
	if code := diff.Run(context.Background(), l.Args(append([]string{"--json"}, args...)...), l.Env); code != 0 {
		t.Fatalf("diff --json %v: exit %d\n%s", args, code, l.Err)
	}
	var rep diff.Report
	must(t, json.Unmarshal([]byte(l.Out.String()), &rep))
	return rep
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		must(t, os.WriteFile(file, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", file, got, want)
	}
}

// files creates each path below dir: a directory for a name ending in "/",
// else a file with the content.
func files(t *testing.T, dir string, m map[string]string) {
	t.Helper()
	for p, content := range m {
		full := filepath.Join(dir, p)
		if p[len(p)-1] == '/' {
			must(t, os.MkdirAll(full, 0o755))
			continue
		}
		must(t, os.MkdirAll(filepath.Dir(full), 0o755))
		must(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
