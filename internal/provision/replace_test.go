package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

const (
	blank    = "@root-blank"
	leftover = blank + TempSuffix
)

// converted is a provisioned default layout whose blank was captured from
// @installed, with a live @root that changed since: it holds "upgraded".
func converted(t *testing.T) (*btrfstest.FS, *btrfs.FS) {
	t.Helper()
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	installedRoot(t, tfs, fsys, "@installed")
	if code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", "@installed"); code != job.ExitOK {
		t.Fatalf("provision exit %d\n%s%s", code, out, stderr)
	}
	if err := os.WriteFile(filepath.Join(tfs.Mount, "@root/upgraded"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	return tfs, fsys
}

// checkOneBlank checks that the blank is a read-only snapshot of parent
// and that no leftover is there.
func checkOneBlank(t *testing.T, fsys *btrfs.FS, parent string) btrfs.Subvolume {
	t.Helper()
	subs := subvolumes(t, fsys)
	b, ok := subs[blank]
	if !ok || !b.ReadOnly || b.ParentUUID != subs[parent].UUID {
		t.Errorf("%s = %+v (exists %t), want a read-only snapshot of %s (%v)", blank, b, ok, parent, subs[parent].UUID)
	}
	if _, ok := subs[leftover]; ok {
		t.Errorf("%s is still there", leftover)
	}
	return b
}

// unchanged checks that every subvolume but the blank kept its id.
func unchanged(t *testing.T, before, after map[string]btrfs.Subvolume) {
	t.Helper()
	for p, s := range before {
		if p == blank {
			continue
		}
		if a, ok := after[p]; !ok || a.ID != s.ID || a.UUID != s.UUID {
			t.Errorf("%s changed: before %d %v, after %d %v (exists %t)", p, s.ID, s.UUID, a.ID, a.UUID, ok)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d subvolumes after, %d before", len(after), len(before))
	}
}

func TestProvisionReplaceBlank(t *testing.T) {
	tfs, fsys := converted(t)
	before := subvolumes(t, fsys)
	archive, err := os.ReadDir(filepath.Join(tfs.Mount, "old_roots/@root"))
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir()}
	auditPath := env.AuditPath()
	code := Run(context.Background(), []string{"--mount", tfs.Mount, "--default", "--blank-from", "@root", "--replace-blank"}, env)
	if code != job.ExitOK {
		t.Fatalf("replace exit %d\n%s%s", code, out.String(), errb.String())
	}
	if s := out.String(); !strings.Contains(s, "replace blank @root-blank with a snapshot of @root") || !strings.Contains(s, "is the live root") {
		t.Errorf("output:\n%s", s)
	}
	after := subvolumes(t, fsys)
	b := checkOneBlank(t, fsys, "@root")
	if b.ID == before[blank].ID {
		t.Errorf("blank still has id %d, want a new subvolume", b.ID)
	}
	for _, s := range after {
		if s.ID == before[blank].ID || s.UUID == before[blank].UUID {
			t.Errorf("old blank %d still listed as %s", before[blank].ID, s.Path)
		}
	}
	unchanged(t, before, after)
	if got, err := os.ReadFile(filepath.Join(tfs.Mount, blank, "upgraded")); err != nil || string(got) != "v2" {
		t.Errorf("new blank/upgraded = %q, %v; want the live root's content", got, err)
	}
	if err := os.WriteFile(filepath.Join(tfs.Mount, blank, "x"), nil, 0o644); err == nil {
		t.Error("wrote into the new blank")
	}
	if a2, _ := os.ReadDir(filepath.Join(tfs.Mount, "old_roots/@root")); len(a2) != len(archive) {
		t.Errorf("archive changed: %v, was %v", a2, archive)
	}
	log, err := os.ReadFile(auditPath)
	if err != nil || !strings.Contains(string(log), `"action":"replace-blank","path":"@root-blank","result":"success"`) {
		t.Errorf("audit log = %s, %v; want the replacement", log, err)
	}
	// Twice is fine: a replacement again (the operator asked for one).
	if code, o, e := runProvision(t, tfs, "--default", "--blank-from", "@root", "--replace-blank"); code != job.ExitOK {
		t.Fatalf("second replace exit %d\n%s%s", code, o, e)
	}
	checkOneBlank(t, fsys, "@root")
}

func TestProvisionReplaceBlankFromDirectory(t *testing.T) {
	tfs, fsys := converted(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "clean"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subvolumes(t, fsys)
	if code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", src, "--replace-blank"); code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	after := subvolumes(t, fsys)
	unchanged(t, before, after)
	if b := after[blank]; !b.ReadOnly || b.ID == before[blank].ID {
		t.Errorf("blank = %+v, want a new read-only subvolume", b)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, blank, "clean")); err != nil {
		t.Errorf("new blank lacks the copied file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, blank, "marker")); err == nil {
		t.Error("new blank still has the old blank's content")
	}
}

// TestProvisionReplaceBlankCrash stops a replacement after each step, as a
// crash would, and checks that a valid blank is in place at that moment and
// that the next run leaves exactly one. A power cut can also lose the
// uncommitted exchange: that is the state after "built" (old blank in place,
// the new one under the temporary name).
func TestProvisionReplaceBlankCrash(t *testing.T) {
	for _, tc := range []struct {
		stop      string
		blankFrom string // the blank in place after the crash is a snapshot of this
		next      []string
		nextFrom  string // and after the next run
	}{
		{"built", "@installed", []string{"--blank-from", "@root"}, "@installed"},
		{"exchanged", "@root", []string{"--blank-from", "@root"}, "@root"},
		{"built", "@installed", []string{"--blank-from", "@root", "--replace-blank"}, "@root"},
		{"exchanged", "@root", []string{"--blank-from", "@root", "--replace-blank"}, "@root"},
		{"built", "@installed", nil, "@installed"},
		{"exchanged", "@root", nil, "@root"},
	} {
		t.Run(tc.stop+" then "+strings.Join(tc.next, " "), func(t *testing.T) {
			tfs, fsys := converted(t)
			before := subvolumes(t, fsys)
			r := Plan(config.Default(), mustObserve(t, fsys), Options{BlankFrom: "@root", ReplaceBlank: true})
			if len(r.Actions) != 1 || r.Actions[0].Op != OpReplace {
				t.Fatalf("plan = %v, want one replacement", r.Actions)
			}
			err := apply(context.Background(), fsys, r.Actions[0], func(step string) bool { return step == tc.stop })
			if err != errStopped {
				t.Fatalf("apply stopped after %s: %v", tc.stop, err)
			}
			subs := subvolumes(t, fsys)
			if b := subs[blank]; !b.ReadOnly || b.ParentUUID != subs[tc.blankFrom].UUID {
				t.Errorf("after the crash %s = %+v, want a read-only snapshot of %s", blank, b, tc.blankFrom)
			}
			if l, ok := subs[leftover]; !ok || !l.ReadOnly {
				t.Errorf("after the crash %s = %+v (exists %t), want the other blank", leftover, l, ok)
			}
			code, out, stderr := runProvision(t, tfs, append([]string{"--default"}, tc.next...)...)
			if code != job.ExitOK || !strings.Contains(out, "remove leftover subvolume "+leftover) {
				t.Fatalf("next run exit %d\n%s%s", code, out, stderr)
			}
			checkOneBlank(t, fsys, tc.nextFrom)
			unchanged(t, before, subvolumes(t, fsys))
		})
	}
}

func TestProvisionReplaceBlankRefusesMountedOldBlank(t *testing.T) {
	tfs, fsys := converted(t)
	mnt := t.TempDir()
	sh(t, "mount", "-o", "ro,subvol="+blank, tfs.Device, mnt)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			sh(t, "umount", mnt)
		}
	})
	code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", "@root", "--replace-blank")
	if code != job.ExitFailure || !strings.Contains(stderr, "the new blank is in place") {
		t.Fatalf("exit %d, want 1 and the new blank in place\n%s%s", code, out, stderr)
	}
	subs := subvolumes(t, fsys)
	if b := subs[blank]; !b.ReadOnly || b.ParentUUID != subs["@root"].UUID {
		t.Errorf("%s = %+v, want the new blank", blank, b)
	}
	if l := subs[leftover]; l.ParentUUID != subs["@installed"].UUID {
		t.Errorf("%s = %+v, want the old blank, still mounted", leftover, l)
	}
	sh(t, "umount", mnt)
	mounted = false
	if code, out, stderr := runProvision(t, tfs, "--default"); code != job.ExitOK {
		t.Fatalf("next run exit %d\n%s%s", code, out, stderr)
	}
	checkOneBlank(t, fsys, "@root")
}

func TestProvisionReplaceBlankDryRun(t *testing.T) {
	tfs, fsys := converted(t)
	before := subvolumes(t, fsys)
	code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", "@root", "--replace-blank", "--dry-run", "--json")
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !rep.DryRun || len(rep.Actions) != 1 || rep.Actions[0].Op != OpReplace || rep.Actions[0].Path != blank || rep.Actions[0].From != "@root" {
		t.Errorf("--json report = %+v, want one replace-blank of %s from @root", rep, blank)
	}
	after := subvolumes(t, fsys)
	unchanged(t, before, after)
	if after[blank].ID != before[blank].ID {
		t.Error("dry run replaced the blank")
	}
	code, out, _ = runProvision(t, tfs, "--default", "--blank-from", "@root", "--replace-blank", "--dry-run")
	if code != job.ExitOK || !strings.Contains(out, "would provision (dry run) 1 item(s)") || !strings.Contains(out, "replace blank @root-blank") {
		t.Errorf("dry-run output (exit %d):\n%s", code, out)
	}
}

func mustObserve(t *testing.T, fsys *btrfs.FS) Observed {
	t.Helper()
	obs, err := Observe(fsys, Paths(config.Default()))
	if err != nil {
		t.Fatal(err)
	}
	return obs
}
