package rollback

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

var t0 = time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)

// crashFixture is the default layout with a lived-in root (files and a
// nested subvolume, as systemd makes /var/lib/machines), persisted and
// permanent data, and five archives of which three are expired (one of them
// read-only with a nested subvolume, which its deletion must first make
// writable) and two writable (an older version's, which the run makes
// read-only).
func crashFixture(t *testing.T) (*btrfstest.FS, *btrfs.FS) {
	t.Helper()
	tfs := layout(t)
	fsys := openFS(t, tfs)
	m := tfs.Mount
	write(t, filepath.Join(m, "@root/etc/hostname"), "server\n")
	write(t, filepath.Join(m, "@root/home/u/notes"), strings.Repeat("n", 100000))
	if err := os.Symlink("../etc/hostname", filepath.Join(m, "@root/home/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(m, "@root/var/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.CreateSubvolume("@root/var/lib/machines"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(m, "@root/var/lib/machines/vm/disk"), "disk image")
	write(t, filepath.Join(m, "@persist/etc/ssh/ssh_host_ed25519_key"), "key")
	write(t, filepath.Join(m, "@nix/store/x"), "nix")
	write(t, filepath.Join(m, "@var-lib-services/db"), "db")
	write(t, filepath.Join(m, "@var-cache/apt/pkgcache.bin"), "cache")
	for i, age := range []int{40, 41, 42, 2, 3} {
		name := fmt.Sprintf("old_roots/@root/%s-%08x", t0.Add(-time.Duration(age)*24*time.Hour).Format(names.TimeLayout), i)
		if err := fsys.Snapshot("@root-blank", name, false); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(m, name, "mark"), name)
		if age == 41 {
			if err := fsys.CreateSubvolume(name + "/nested"); err != nil {
				t.Fatal(err)
			}
		}
		// Archives are read-only since they are archived; two are writable,
		// as older versions left them.
		if age != 42 && age != 2 {
			if err := fsys.SetReadOnly(name, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tfs, fsys
}

// TestCrashAtEveryStep stops the rollback after each of its steps (every
// snapshot, property, exchange, rename, mkdir, delete and commit), then runs
// the next boot's rollback and checks the invariants. Stopping the process
// after a step also covers a power cut: what a power cut loses (renames since
// the last commit) gives a state equal to an earlier stop point.
func TestCrashAtEveryStep(t *testing.T) {
	n, out := crashPlanSteps(t)
	if n < 15 {
		t.Fatalf("plan has %d steps, expected the full reset, archive and prune:\n%s", n, out)
	}
	t.Logf("%d steps, stopping after each", n)
	for k := 1; k <= n; k++ {
		t.Run(fmt.Sprintf("stop-after-%02d", k), func(t *testing.T) {
			tfs, fsys := crashFixture(t)
			m := tfs.Mount
			prevRoot := tree(t, filepath.Join(m, "@root"))
			permanent := map[string]map[string]string{}
			for _, sv := range []string{"@persist", "@nix", "@var-lib-services", "@var-log", "@root-blank"} {
				permanent[sv] = tree(t, filepath.Join(m, sv))
			}
			auditLog := filepath.Join(t.TempDir(), "audit.jsonl")
			var stopped string
			i := 0
			code, out := rollback(t, tfs, runOpts{now: t0, auditLog: auditLog, stop: func(step string) bool {
				i++
				if i == k {
					stopped = step
					return true
				}
				return false
			}})
			if code != job.ExitFailure || stopped == "" {
				t.Fatalf("first run did not stop at step %d: exit %d\n%s", k, code, out)
			}
			t.Logf("stopped after %q", stopped)
			// The next boot: another boot id, an hour later.
			h2 := hostBoot(t, "", "feedc0de-0000-0000-0000-000000000000")
			code, out = rollback(t, tfs, runOpts{root: h2, now: t0.Add(time.Hour), auditLog: auditLog})
			if code != job.ExitOK {
				t.Fatalf("next boot's rollback exit %d:\n%s", code, out)
			}
			checkInvariants(t, tfs, fsys, prevRoot, permanent, t0.Add(time.Hour))
			// And the boot after that is an ordinary one.
			if code, out := rollback(t, tfs, runOpts{root: h2, now: t0.Add(2 * time.Hour), auditLog: auditLog}); code != job.ExitOK || strings.Contains(out, "repair:") {
				t.Errorf("third run exit %d or repaired again:\n%s", code, out)
			}
		})
	}
}

// crashPlanSteps returns the number of steps of the rollback's plan on
// crashFixture, and the dry run's output.
func crashPlanSteps(t *testing.T) (int, string) {
	t.Helper()
	tfs, _ := crashFixture(t)
	code, out := rollback(t, tfs, runOpts{now: t0}, "--dry-run", "--json")
	if code != job.ExitOK {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	return strings.Count(out, `"op":`), out
}

func checkInvariants(t *testing.T, tfs *btrfstest.FS, fsys *btrfs.FS, prevRoot map[string]string,
	permanent map[string]map[string]string, now time.Time) {
	t.Helper()
	m := tfs.Mount
	subs := subvols(t, fsys)
	for _, sv := range []string{"@root", "@var-cache", "@var-tmp"} {
		s, ok := subs[sv]
		if !ok || s.ReadOnly {
			t.Errorf("%s: present=%t read-only=%t, want exactly one writable %s", sv, ok, s.ReadOnly, sv)
		}
		if _, ok := subs[sv+names.NewSuffix]; ok {
			t.Errorf("leftover %s%s", sv, names.NewSuffix)
		}
	}
	if diff := cmp.Diff(tree(t, filepath.Join(m, "@root-blank")), tree(t, filepath.Join(m, "@root"))); diff != "" {
		t.Errorf("@root is not pristine (-blank +root):\n%s", diff)
	}
	for sv, want := range permanent {
		if diff := cmp.Diff(want, tree(t, filepath.Join(m, sv))); diff != "" {
			t.Errorf("%s changed (-before +after):\n%s", sv, diff)
		}
	}
	// The previous state is one archive, whole, with its nested subvolume.
	found := 0
	var archives []retention.Archive
	for _, name := range archivesOf(t, tfs, "@root") {
		p := filepath.Join("old_roots/@root", name)
		s, ok := subs[p]
		if !ok {
			t.Errorf("%s is not a subvolume", p)
			continue
		}
		if _, _, _, ok := names.ParseArchive(name); !ok {
			t.Errorf("archive name %q not recognised", name)
		}
		if !s.ReadOnly {
			t.Errorf("archive %s is writable", p)
		}
		archives = append(archives, retention.Archive{Name: name, Path: p, ID: s.ID})
		if cmp.Equal(prevRoot, tree(t, filepath.Join(m, p))) {
			found++
			if _, ok := subs[p+"/var/lib/machines"]; !ok {
				t.Errorf("archive %s lost the nested subvolume var/lib/machines", p)
			}
		}
	}
	if found != 1 {
		t.Errorf("the previous root is in %d archives, want exactly 1 (archives %v)", found, archivesOf(t, tfs, "@root"))
	}
	// Never nested: inside an archive there is no archive and no old_roots.
	for p := range subs {
		rest, ok := strings.CutPrefix(p, "old_roots/@root/")
		if !ok {
			continue
		}
		if strings.Contains(rest, "old_roots") || strings.Count(rest, "/") > 0 && !strings.HasSuffix(rest, "/var/lib/machines") && !strings.HasSuffix(rest, "/nested") {
			t.Errorf("unexpected subvolume %s inside an archive", p)
		}
	}
	// Retention has converged: nothing left that it would delete.
	ds, _ := retention.SelectArchives(archives, 30, 3, now)
	for _, d := range ds {
		if d.Delete {
			t.Errorf("expired archive %s left behind", d.Path)
		}
	}
	_ = config.Ephemeral
}
