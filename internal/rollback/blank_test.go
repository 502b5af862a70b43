package rollback

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/provision"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

var c0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// commit runs impermanence-provision --commit at now with the host root
// root (its run dir is the rollback's).
func commit(t *testing.T, tfs *btrfstest.FS, root string, now time.Time) {
	t.Helper()
	var out bytes.Buffer
	env := job.Env{Stdout: &out, Stderr: &out, Root: root, Now: func() time.Time { return now }}
	if code := provision.Run(context.Background(), []string{"--default", "--mount", tfs.Mount, "--commit"}, env); code != job.ExitOK {
		t.Fatalf("commit exit %d:\n%s", code, out.String())
	}
}

func markGood(t *testing.T, tfs *btrfstest.FS, root string) string {
	t.Helper()
	var out bytes.Buffer
	env := job.Env{Stdout: &out, Stderr: &out, Root: root}
	if code := provision.Run(context.Background(), []string{"--default", "--mount", tfs.Mount, "--mark-good"}, env); code != job.ExitOK {
		t.Fatalf("--mark-good exit %d:\n%s", code, out.String())
	}
	return out.String()
}

// generations is a default layout whose blank went through three
// generations: v0 (the provisioned, empty one), v1 and v2, each committed
// from a live @root holding the file "version". It returns the former
// blanks, newest first (v1, v0).
func generations(t *testing.T, root string) (*btrfstest.FS, []string) {
	t.Helper()
	tfs := layout(t)
	for i := 1; i <= 2; i++ {
		write(t, filepath.Join(tfs.Mount, "@root/version"), fmt.Sprintf("v%d", i))
		commit(t, tfs, root, c0.Add(time.Duration(i)*time.Hour))
	}
	write(t, filepath.Join(tfs.Mount, "@persist/kept"), "state")
	return tfs, []string{names.BlankHistory("@root-blank", c0.Add(2*time.Hour)), names.BlankHistory("@root-blank", c0.Add(time.Hour))}
}

func version(t *testing.T, tfs *btrfstest.FS) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tfs.Mount, "@root/version"))
	if os.IsNotExist(err) {
		return "v0"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func trialOf(t *testing.T, tfs *btrfstest.FS) *blanks.Trial {
	t.Helper()
	tr, err := blanks.ReadTrial(tfs.Mount, blanks.TrialPath(config.Default()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// recorded returns the blank choice of @root in the rollback record and
// in the status file of the run dir of root.
func recorded(t *testing.T, root string) (blanks.Choice, blanks.Choice) {
	t.Helper()
	rec, err := state.Read(job.Env{Root: root}.RunDir(), Job)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(rec.Details, &res); err != nil {
		t.Fatal(err)
	}
	st, ok, err := blanks.ReadStatus(job.Env{Root: root}.RunDir())
	if err != nil || !ok || len(st.Choices) != 1 || len(res.Blanks) != 1 {
		t.Fatalf("status = %+v, %t, %v; record blanks %+v", st, ok, err, res.Blanks)
	}
	return res.Blanks[0], st.Choices[0]
}

// TestRollbackBlankRequest boots former blanks with
// server-impermanence.blank= and checks that an unusable value boots the
// configured blank with a warning, never a refusal.
func TestRollbackBlankRequest(t *testing.T) {
	root := t.TempDir()
	tfs, former := generations(t, root)
	if err := blanks.RemoveTrial(tfs.Mount, blanks.TrialPath(config.Default())); err != nil { // as if marked good
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmdline string
		version string
		source  blanks.Source
		warn    string
	}{
		{"", "v2", blanks.SourceDefault, ""},
		{"server-impermanence.blank=previous", "v1", blanks.SourceRequest, ""},
		{"rd.server-impermanence.blank=" + former[1], "v0", blanks.SourceRequest, ""},
		{"server-impermanence.blank=" + names.Time(c0.Add(2*time.Hour)), "v1", blanks.SourceRequest, ""},
		{"server-impermanence.blank=@root-blank", "v2", blanks.SourceDefault, ""},
		{"server-impermanence.blank=@root-blank.20991231T000000Z", "v2", blanks.SourceDefault,
			"no blank @root-blank.20991231T000000Z (former blanks of @root-blank: " + former[0] + ", " + former[1] + ")"},
		{"server-impermanence.blank=../@persist", "v2", blanks.SourceDefault, "no blank ../@persist"},
		{"server-impermanence.blank=@persist", "v2", blanks.SourceDefault, "no blank @persist"},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			h := hostBoot(t, "quiet "+tc.cmdline, "0123abcd-4567-89ef-0123-456789abcdef")
			code, out := rollback(t, tfs, runOpts{root: h, now: c0.Add(5 * time.Hour)})
			if code != job.ExitOK {
				t.Fatalf("exit %d\n%s", code, out)
			}
			if got := version(t, tfs); got != tc.version {
				t.Errorf("@root is %s, want %s\n%s", got, tc.version, out)
			}
			rec, st := recorded(t, h)
			if rec.Source != tc.source || st.Source != tc.source || rec.Fallback || rec.History != 2 {
				t.Errorf("recorded %+v / status %+v, want source %s, 2 former blanks", rec, st, tc.source)
			}
			if tc.warn != "" && !strings.Contains(out, "warning: server-impermanence.blank=") || !strings.Contains(out, tc.warn) {
				t.Errorf("output lacks the warning %q:\n%s", tc.warn, out)
			}
			if tc.warn == "" && strings.Contains(out, "warning: server-impermanence.blank") {
				t.Errorf("unexpected warning:\n%s", out)
			}
			if b, _ := os.ReadFile(filepath.Join(tfs.Mount, "@persist/kept")); string(b) != "state" {
				t.Errorf("@persist/kept = %q", b)
			}
		})
	}
}

// TestRollbackTrialAndFallback boots a newly committed blank that never
// reaches boot-complete.target: two trial boots, then the previous good
// blank at every boot until the next commit; a request meanwhile is not
// counted; /persist is untouched. Then a trial boot that is marked good.
func TestRollbackTrialAndFallback(t *testing.T) {
	root := hostBoot(t, "", "0123abcd-4567-89ef-0123-456789abcdef")
	tfs, former := generations(t, root)
	persist := subvols(t, openFS(t, tfs))["@persist"]
	persistTree := tree(t, filepath.Join(tfs.Mount, "@persist"))
	// v2 is on trial; v1's trial was never confirmed either, so the
	// previous good blank is v0.
	tr := trialOf(t, tfs)
	if tr == nil || tr.Fallback != former[1] || tr.Tries != 0 {
		t.Fatalf("trial after two commits = %+v, want fallback %s", tr, former[1])
	}
	boot := func(i int, cmdline string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte(cmdline+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := rollback(t, tfs, runOpts{root: root, now: c0.Add(time.Duration(10+i) * time.Hour)})
		if code != job.ExitOK {
			t.Fatalf("boot %d exit %d\n%s", i, code, out)
		}
		return out
	}
	for i, want := range []struct {
		cmdline string
		version string
		source  blanks.Source
		tries   int
	}{
		{"", "v2", blanks.SourceTrial, 1},
		{"server-impermanence.blank=previous", "v1", blanks.SourceRequest, 1},
		{"", "v2", blanks.SourceTrial, 2},
		{"", "v0", blanks.SourceFallback, 2},
		{"", "v0", blanks.SourceFallback, 2},
	} {
		out := boot(i, want.cmdline)
		rec, st := recorded(t, root)
		if got := version(t, tfs); got != want.version || rec.Source != want.source || st.Source != want.source {
			t.Errorf("boot %d: @root %s from %s (%s), want %s (%s)\n%s", i, got, rec.From, rec.Source, want.version, want.source, out)
		}
		if st.Fallback != (want.source == blanks.SourceFallback) {
			t.Errorf("boot %d: status fallback = %t", i, st.Fallback)
		}
		if tr := trialOf(t, tfs); tr == nil || tr.Tries != want.tries {
			t.Errorf("boot %d: trial = %+v, want %d tries", i, tr, want.tries)
		}
		if want.source == blanks.SourceFallback && !strings.Contains(out, "did not reach boot-complete.target in 2 trial boot(s)") {
			t.Errorf("boot %d: output lacks why:\n%s", i, out)
		}
		// A fallback boot is never marked good.
		if got := markGood(t, tfs, root); want.source != blanks.SourceTrial && !strings.Contains(got, "nothing marked") {
			t.Errorf("boot %d: --mark-good: %s", i, got)
		} else if want.source == blanks.SourceTrial {
			// Undo: this test's trial boots never reach boot-complete.
			if !strings.Contains(got, "is good") {
				t.Errorf("boot %d: --mark-good on a trial boot: %s", i, got)
			}
			tr := *trialOfBefore(t, want.tries, former[1], tfs)
			if err := blanks.WriteTrial(tfs.Mount, blanks.TrialPath(config.Default()), tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := subvols(t, openFS(t, tfs))["@persist"]; p.ID != persist.ID || p.UUID != persist.UUID {
		t.Errorf("@persist changed: %+v, was %+v", p, persist)
	}
	if diff := cmp.Diff(persistTree, tree(t, filepath.Join(tfs.Mount, "@persist"))); diff != "" {
		t.Errorf("@persist content changed (-before +after):\n%s", diff)
	}
	log, _ := os.ReadFile(filepath.Join(tfs.Mount, "@var-log/server-impermanence/audit.jsonl"))
	for _, a := range []string{`"action":"blank-trial"`, `"action":"blank-fallback"`, `"action":"blank-request"`} {
		if !strings.Contains(string(log), a) {
			t.Errorf("audit log lacks %s:\n%s", a, log)
		}
	}
	// Commit the running (fallback) system: the fallback ends, the new
	// blank is on trial with v0 as its fallback; a trial boot marked good
	// ends the trial.
	write(t, filepath.Join(tfs.Mount, "@root/version"), "v3")
	commit(t, tfs, root, c0.Add(20*time.Hour))
	if _, st := recorded(t, root); st.Fallback || st.History != 3 {
		t.Errorf("status after the commit = %+v, want no fallback, 3 former blanks", st)
	}
	boot(20, "")
	if got := version(t, tfs); got != "v3" {
		t.Errorf("after the commit @root is %s, want v3", got)
	}
	if got := markGood(t, tfs, root); !strings.Contains(got, "@root-blank is good (trial boot 1 of 2") || trialOf(t, tfs) != nil {
		t.Errorf("--mark-good: %s; trial %+v", got, trialOf(t, tfs))
	}
	boot(21, "")
	if rec, _ := recorded(t, root); rec.Source != blanks.SourceDefault || version(t, tfs) != "v3" {
		t.Errorf("after mark-good: %+v", rec)
	}
}

// trialOfBefore rebuilds the trial of v2 with tries counted (the test
// marks good to check --mark-good, then puts the trial back).
func trialOfBefore(t *testing.T, tries int, fallback string, tfs *btrfstest.FS) *blanks.Trial {
	t.Helper()
	subs := subvols(t, openFS(t, tfs))
	return &blanks.Trial{Version: blanks.TrialVersion, Subvolume: "@root", Blank: "@root-blank", UUID: subs["@root-blank"].UUID.String(),
		Committed: c0.Add(2 * time.Hour), Fallback: fallback, FallbackUUID: subs[fallback].UUID.String(), Tries: tries}
}

// TestRollbackTrialCountedBeforeTheReset: a trial boot that stops after its
// first step (a crash, a power cut) was counted, so a blank that crashes
// the rollback itself cannot boot forever.
func TestRollbackTrialCountedBeforeTheReset(t *testing.T) {
	root := hostBoot(t, "", "0123abcd-4567-89ef-0123-456789abcdef")
	tfs, _ := generations(t, root)
	code, out := rollback(t, tfs, runOpts{root: root, now: c0.Add(10 * time.Hour), stop: func(string) bool { return true }})
	if code != job.ExitFailure {
		t.Fatalf("exit %d, want a stopped run\n%s", code, out)
	}
	if tr := trialOf(t, tfs); tr == nil || tr.Tries != 1 {
		t.Errorf("trial after a stopped trial boot = %+v, want 1 try counted", tr)
	}
	// A dry run counts nothing.
	if code, out := rollback(t, tfs, runOpts{root: root, now: c0.Add(11 * time.Hour)}, "--dry-run"); code != job.ExitOK || !strings.Contains(out, "trial boot 2 of 2") {
		t.Errorf("dry run exit %d\n%s", code, out)
	}
	if tr := trialOf(t, tfs); tr.Tries != 1 {
		t.Errorf("dry run counted a trial: %+v", tr)
	}
}

// TestCrashAtEveryStepOfAFallback stops a fallback boot after each of its
// steps and checks that the next boot finishes it: @root is exactly the
// previous good blank, the permanent subvolumes and the blanks unchanged.
func TestCrashAtEveryStepOfAFallback(t *testing.T) {
	fixture := func(t *testing.T) (*btrfstest.FS, string, string) {
		root := hostBoot(t, "", "0123abcd-4567-89ef-0123-456789abcdef")
		tfs, former := generations(t, root)
		tr := trialOfBefore(t, 2, former[1], tfs)
		if err := blanks.WriteTrial(tfs.Mount, blanks.TrialPath(config.Default()), *tr); err != nil {
			t.Fatal(err)
		}
		return tfs, root, former[1]
	}
	tfs, root, _ := fixture(t)
	code, out := rollback(t, tfs, runOpts{root: root, now: c0.Add(10 * time.Hour)}, "--dry-run", "--json")
	if code != job.ExitOK {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	n := strings.Count(out, `"op":`)
	for k := 1; k <= n; k++ {
		t.Run(fmt.Sprintf("stop-after-%02d", k), func(t *testing.T) {
			tfs, root, fallback := fixture(t)
			m := tfs.Mount
			keep := map[string]map[string]string{}
			for _, sv := range []string{"@persist", "@nix", "@var-lib-services", "@root-blank", fallback} {
				keep[sv] = tree(t, filepath.Join(m, sv))
			}
			i := 0
			code, out := rollback(t, tfs, runOpts{root: root, now: c0.Add(10 * time.Hour), stop: func(string) bool { i++; return i == k }})
			if code != job.ExitFailure {
				t.Fatalf("first run did not stop at step %d: exit %d\n%s", k, code, out)
			}
			code, out = rollback(t, tfs, runOpts{root: root, now: c0.Add(11 * time.Hour)})
			if code != job.ExitOK {
				t.Fatalf("next boot exit %d\n%s", code, out)
			}
			if diff := cmp.Diff(keep[fallback], tree(t, filepath.Join(m, "@root"))); diff != "" {
				t.Errorf("@root is not the previous good blank (-blank +root):\n%s", diff)
			}
			for sv, want := range keep {
				if diff := cmp.Diff(want, tree(t, filepath.Join(m, sv))); diff != "" {
					t.Errorf("%s changed (-before +after):\n%s", sv, diff)
				}
			}
			subs := subvols(t, openFS(t, tfs))
			if _, ok := subs["@root"+names.NewSuffix]; ok {
				t.Error("leftover @root.new")
			}
			if rec, _ := recorded(t, root); rec.Source != blanks.SourceFallback {
				t.Errorf("next boot's choice = %+v", rec)
			}
		})
	}
}
