package rollback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

// host is a fake root for /proc/cmdline, the boot id and /sys/power/resume.
func host(t testing.TB, cmdline string) string {
	return hostBoot(t, cmdline, "0123abcd-4567-89ef-0123-456789abcdef")
}

func hostBoot(t testing.TB, cmdline, bootID string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range map[string]string{
		"proc/cmdline":                   cmdline + "\n",
		"proc/sys/kernel/random/boot_id": bootID + "\n",
		"sys/power/resume":               "0:0\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// layout provisions the built-in default layout on a fresh filesystem.
func layout(t testing.TB, opts ...btrfstest.Option) *btrfstest.FS {
	t.Helper()
	tfs := btrfstest.New(t, opts...)
	var out bytes.Buffer
	if code := provision.Run(context.Background(), []string{"--default", "--mount", tfs.Mount},
		job.Env{Stdout: &out, Stderr: &out, Root: t.TempDir()}); code != 0 {
		t.Fatalf("provision exit %d:\n%s", code, out.String())
	}
	return tfs
}

type runOpts struct {
	root      string
	now       time.Time
	stop      func(string) bool
	auditLog  string
	noDefault bool // do not pass --default (the test gives --config)
	// ctx is the run's context (a signal cancels it); nil: Background.
	ctx context.Context
}

// rollback runs the program against tfs and returns exit code and output.
func rollback(t testing.TB, tfs *btrfstest.FS, o runOpts, args ...string) (int, string) {
	t.Helper()
	if o.root == "" {
		o.root = host(t, "")
	}
	if o.now.IsZero() {
		o.now = time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	}
	var out bytes.Buffer
	var base []string
	if !o.noDefault {
		base = append(base, "--default")
	}
	if tfs != nil {
		base = append(base, "--mount", tfs.Mount)
	}
	env := Env{Env: job.Env{Stdout: &out, Stderr: &out, Root: o.root, Now: func() time.Time { return o.now },
		Journal: func() bool { return false }}, Stop: o.stop, AuditLog: o.auditLog}
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	code := Run(ctx, append(base, args...), env)
	return code, out.String()
}

func openFS(t testing.TB, tfs *btrfstest.FS) *btrfs.FS {
	t.Helper()
	fsys, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

func subvols(t testing.TB, fsys *btrfs.FS) map[string]btrfs.Subvolume {
	t.Helper()
	subs, err := fsys.List()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]btrfs.Subvolume{}
	for _, s := range subs {
		m[s.Path] = s
	}
	return m
}

// tree returns a checksum per file below dir (symlink targets, modes and
// contents), skipping nothing: the exact content of a subvolume.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			sums[rel] = "link:" + target
		case d.IsDir():
			sums[rel] = "dir:" + info.Mode().String()
		default:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			sums[rel] = info.Mode().String() + ":" + hex.EncodeToString(h.Sum(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// archivesOf lists the archive names of a subvolume, sorted.
func archivesOf(t testing.TB, tfs *btrfstest.FS, sv string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(tfs.Mount, "old_roots", sv))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func execCommand(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
