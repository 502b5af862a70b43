package restore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
)

const (
	sv   = "@var-lib-services"
	snap = "20260101T000000Z"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// setup provisions the default layout, writes v1 into @var-lib-services,
// snapshots it as @snapshots/@var-lib-services/<snap>, then writes v2.
func setup(t *testing.T) (*jobtest.Layout, *btrfs.FS) {
	t.Helper()
	l := jobtest.New(t)
	l.Env.Now = func() time.Time { return now }
	fsys, err := btrfs.Open(l.FS.Mount)
	must(t, err)
	t.Cleanup(func() { fsys.Close() })
	write(t, l, sv+"/app/data", "v1")
	write(t, l, sv+"/app/config", "c1")
	must(t, os.MkdirAll(filepath.Join(l.FS.Mount, "@snapshots", sv), 0o700))
	must(t, fsys.Snapshot(sv, "@snapshots/"+sv+"/"+snap, true))
	write(t, l, sv+"/app/data", "v2")
	write(t, l, sv+"/app/new", "new")
	return l, fsys
}

func TestRestoreSubvolume(t *testing.T) {
	t.Parallel()
	l, fsys := setup(t)
	units := t.TempDir()
	write(t, nil, filepath.Join(units, "app.service"), "[Service]\nWorkingDirectory=/var/lib/services/app\nExecStart=/bin/app\n")
	write(t, nil, filepath.Join(units, "other.service"), "[Unit]\nRequiresMountsFor=/var/lib/other\n")

	code := restore.Run(context.Background(), l.Args("--from", snap, "--unit-dirs", units, sv), l.Env)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, l.Out, l.Err)
	}
	top := l.FS.Mount
	if got := read(t, top, sv+"/app/data"); got != "v1" {
		t.Errorf("restored app/data = %q, want v1", got)
	}
	if _, err := os.Stat(filepath.Join(top, sv, "app/new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("app/new after restore: %v, want gone", err)
	}
	pre := "@snapshots/" + sv + "/20260304T050607Z-pre-restore"
	if got := read(t, top, pre+"/app/data"); got != "v2" {
		t.Errorf("pre-restore snapshot app/data = %q, want v2", got)
	}
	if ro, err := fsys.ReadOnly(pre); err != nil || !ro {
		t.Errorf("pre-restore snapshot read-only = %t, %v; want true", ro, err)
	}
	replaced := "old_roots/" + sv + "/20260304T050607Z-replaced"
	if got := read(t, top, replaced+"/app/new"); got != "new" {
		t.Errorf("replaced state app/new = %q, want new", got)
	}
	if ro, err := fsys.ReadOnly(replaced); err != nil || !ro {
		t.Errorf("replaced state read-only = %t, %v; want true, as archives are", ro, err)
	}
	if _, err := fsys.Info(sv + ".restore"); !errors.Is(err, btrfs.ErrNotExist) {
		t.Errorf("%s.restore left behind: %v", sv, err)
	}
	if ro, _ := fsys.ReadOnly(sv); ro {
		t.Errorf("%s is read-only after the restore", sv)
	}
	out := l.Out.String()
	for _, want := range []string{"keep the current " + sv + " as read-only snapshot " + pre, "app.service  WorkingDirectory=/var/lib/services/app"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "other.service") {
		t.Errorf("output names other.service:\n%s", out)
	}
	// A second restore in the same second gets distinct names.
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--from", snap, "--unit-dirs", units, sv), l.Env); code != 0 {
		t.Fatalf("second restore: exit %d\n%s", code, l.Err)
	}
	if _, err := fsys.Info(pre + "-2"); err != nil {
		t.Errorf("second pre-restore snapshot: %v", err)
	}
}

func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", snap, "@root"}, "@root is ephemeral"},
		{[]string{"--from", "20250101T000000Z", sv}, "impermanence-snapshot list " + sv},
		{[]string{"--from", "@snapshots/@nix/x", sv}, "is not a snapshot of " + sv},
		{[]string{"--from", snap, "@nope"}, "not in the configuration"},
	} {
		l.Reset()
		if code := restore.Run(context.Background(), l.Args(tc.args...), l.Env); code != 1 {
			t.Errorf("restore %q: exit %d, want 1", tc.args, code)
		}
		if !strings.Contains(l.Err.String(), tc.want) {
			t.Errorf("restore %q: stderr %q, want %q", tc.args, l.Err, tc.want)
		}
	}
}

func TestRestoreMountedAndNextBoot(t *testing.T) {
	t.Parallel()
	l, fsys := setup(t)
	top := l.FS.Mount
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "subvol="+sv, l.FS.Device, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })

	if code := restore.Run(context.Background(), l.Args("--from", snap, sv), l.Env); code != 1 {
		t.Fatalf("restore of mounted %s: exit %d, want 1", sv, code)
	}
	for _, want := range []string{"is mounted at " + mnt, "--next-boot --from " + snap + " " + sv, "umount " + mnt} {
		if !strings.Contains(l.Err.String(), want) {
			t.Errorf("refusal lacks %q: %s", want, l.Err)
		}
	}
	if got := read(t, top, sv+"/app/data"); got != "v2" {
		t.Errorf("after refusal app/data = %q, want v2 (unchanged)", got)
	}

	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--next-boot", "--from", snap, sv), l.Env); code != 0 {
		t.Fatalf("--next-boot: exit %d\n%s", code, l.Err)
	}
	cfg := config.Default()
	reqs, err := restorereq.ReadRequests(top, cfg)
	must(t, err)
	info, err := fsys.Info("@snapshots/" + sv + "/" + snap)
	must(t, err)
	if len(reqs.Requests) != 1 || reqs.Requests[0].Subvolume != sv || reqs.Requests[0].SnapshotID != info.ID ||
		reqs.Requests[0].SnapshotUUID != info.UUID || !reqs.Requests[0].Requested.Equal(now) {
		t.Fatalf("request file = %+v", reqs)
	}
	if _, err := os.Stat(filepath.Join(top, "old_roots/.restore-request.json")); err != nil {
		t.Fatal(err)
	}
	if got := read(t, top, sv+"/app/data"); got != "v2" {
		t.Errorf("after --next-boot app/data = %q, want v2 until the next boot", got)
	}
	// Still mounted: the staged restore is refused and kept.
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--apply-requests"), l.Env); code != 1 {
		t.Errorf("--apply-requests while mounted: exit %d, want 1", code)
	}
	// The next boot: nothing mounted yet.
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--apply-requests"), l.Env); code != 0 {
		t.Fatalf("--apply-requests: exit %d\n%s%s", code, l.Out, l.Err)
	}
	if got := read(t, top, sv+"/app/data"); got != "v1" {
		t.Errorf("after the staged restore app/data = %q, want v1", got)
	}
	if _, err := os.Stat(filepath.Join(top, "old_roots/.restore-request.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("request file after it was performed: %v, want removed", err)
	}
}

func TestRestorePath(t *testing.T) {
	t.Parallel()
	l, _ := setup(t)
	top := l.FS.Mount
	// Without --force an existing path is refused and left alone.
	if code := restore.Run(context.Background(), l.Args("--from", snap, "--path", "/var/lib/services/app/data"), l.Env); code != 1 {
		t.Fatalf("--path over an existing file: exit %d, want 1", code)
	}
	if want := "add --force to restore it and keep the current one as /var/lib/services/app/data.pre-restore-20260304T050607Z"; !strings.Contains(l.Err.String(), want) {
		t.Errorf("refusal %q lacks %q", l.Err, want)
	}
	if got := read(t, top, sv+"/app/data"); got != "v2" {
		t.Errorf("after refusal app/data = %q, want v2", got)
	}
	// A missing path needs no --force; missing parents are created.
	must(t, os.RemoveAll(filepath.Join(top, sv, "app")))
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--from", snap, "--path", "/var/lib/services/app/config"), l.Env); code != 0 {
		t.Fatalf("--path of a missing file: exit %d\n%s", code, l.Err)
	}
	if got := read(t, top, sv+"/app/config"); got != "c1" {
		t.Errorf("restored app/config = %q, want c1", got)
	}
	// With --force the current one is kept aside.
	write(t, l, sv+"/app/data", "v3")
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--force", "--from", snap, "--path", "/var/lib/services/app/data"), l.Env); code != 0 {
		t.Fatalf("--force --path: exit %d\n%s", code, l.Err)
	}
	if got := read(t, top, sv+"/app/data"); got != "v1" {
		t.Errorf("restored app/data = %q, want v1", got)
	}
	if got := read(t, top, sv+"/app/data.pre-restore-20260304T050607Z"); got != "v3" {
		t.Errorf("kept aside = %q, want v3", got)
	}
	// A whole directory, by reflink.
	must(t, os.RemoveAll(filepath.Join(top, sv, "app")))
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--from", snap, "--path", "/var/lib/services/app"), l.Env); code != 0 {
		t.Fatalf("--path of a directory: exit %d\n%s", code, l.Err)
	}
	if got := read(t, top, sv+"/app/data"); got != "v1" {
		t.Errorf("restored directory app/data = %q, want v1", got)
	}
	// A path on an ephemeral subvolume is refused.
	l.Reset()
	if code := restore.Run(context.Background(), l.Args("--from", snap, "--path", "/etc/hosts"), l.Env); code != 1 ||
		!strings.Contains(l.Err.String(), "ephemeral @root") {
		t.Errorf("--path /etc/hosts: exit %d, %s", code, l.Err)
	}
}

// TestCrashAtEveryStep stops the swap after each step, then checks what a
// power cut at that point leaves and that the next run repairs it.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	steps := []string{restorereq.StepPreSnapshot, restorereq.StepCopy, restorereq.StepExchange, restorereq.StepCommit, restorereq.StepArchive,
		restorereq.StepReadOnly, restorereq.StepCommit2}
	for _, stopAt := range steps {
		t.Run(stopAt, func(t *testing.T) {
			l, fsys := setup(t)
			top := l.FS.Mount
			cfg := config.Default()
			w := restorereq.PlanSwap(fsys, cfg, sv, "@snapshots/"+sv+"/"+snap, now)
			stop := errors.New("stop")
			err := w.Apply(fsys, func(step, _ string) error {
				if step == stopAt {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) && !(stopAt == restorereq.StepCommit2 && err == nil) {
				t.Fatalf("Apply stopped at %s: %v", stopAt, err)
			}
			// Exactly one S, with the old or the restored state; the
			// old state kept in the pre-restore snapshot.
			data := read(t, top, sv+"/app/data")
			if data != "v1" && data != "v2" {
				t.Errorf("app/data = %q", data)
			}
			if got := read(t, top, w.Pre+"/app/data"); got != "v2" {
				t.Errorf("pre-restore app/data = %q, want v2", got)
			}
			rec, err := restorereq.Recover(fsys, cfg, sv, now.Add(time.Hour))
			must(t, err)
			if _, err := fsys.Info(sv + ".restore"); !errors.Is(err, btrfs.ErrNotExist) {
				t.Errorf("after Recover %s.restore: %v, want gone (recovery %+v)", sv, err, rec)
			}
			after := read(t, top, sv+"/app/data")
			swapped := stopAt != restorereq.StepPreSnapshot && stopAt != restorereq.StepCopy
			if want := map[bool]string{true: "v1", false: "v2"}[swapped]; after != want {
				t.Errorf("after Recover app/data = %q, want %q", after, want)
			}
			// The replaced state is archived exactly once when swapped.
			arch, _ := filepath.Glob(filepath.Join(top, "old_roots", sv, "*-replaced*"))
			if n := map[bool]int{true: 1, false: 0}[swapped]; len(arch) != n {
				t.Errorf("archived replaced states %v, want %d", arch, n)
			}
			for _, a := range arch { // read-only, the step it stopped before or not
				rel, _ := filepath.Rel(top, a)
				if ro, err := fsys.ReadOnly(rel); err != nil || !ro {
					t.Errorf("after Recover %s read-only = %t, %v; want true", rel, ro, err)
				}
			}
			// The next run succeeds.
			l.Reset()
			if code := restore.Run(context.Background(), l.Args("--from", snap, sv), l.Env); code != 0 {
				t.Fatalf("restore after the crash: exit %d\n%s", code, l.Err)
			}
			if got := read(t, top, sv+"/app/data"); got != "v1" {
				t.Errorf("final app/data = %q, want v1", got)
			}
		})
	}
}

func write(t *testing.T, l *jobtest.Layout, p, content string) {
	t.Helper()
	if l != nil {
		p = filepath.Join(l.FS.Mount, p)
	}
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

func read(t *testing.T, top, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(top, p))
	if err != nil {
		t.Errorf("read %s: %v", p, err)
	}
	return string(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
