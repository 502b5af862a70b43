package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

const (
	blank    = "@root-blank"
	leftover = blank + TempSuffix
)

// t0 is the clock of the first commit of a test; each later one is an
// hour later (at).
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Hour) }

// former is the history name of the blank replaced by commit i.
func former(i int) string { return names.BlankHistory(blank, at(i)) }

// host is a helper's environment that lasts across runs: one run dir,
// state dir and audit log, and the clock.
type host struct {
	tfs  *btrfstest.FS
	root string
	now  time.Time
	cfg  string // --config, "" for --default
}

func (h *host) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	pre := []string{"--mount", h.tfs.Mount}
	if h.cfg == "" {
		pre = append(pre, "--default")
	} else {
		pre = append(pre, "--config", h.cfg)
	}
	now := h.now
	env := job.Env{Stdout: &out, Stderr: &errb, Root: h.root, Now: func() time.Time { return now }}
	code := Run(context.Background(), append(pre, args...), env)
	return code, out.String(), errb.String()
}

// withBlankConfig writes the default configuration with [blank] keep and
// tries changed and returns its path.
func withBlankConfig(t *testing.T, keep, tries int) string {
	t.Helper()
	s := strings.Replace(string(config.DefaultTOML()), "keep  = 3\ntries = 2", "keep  = "+strconv.Itoa(keep)+"\ntries = "+strconv.Itoa(tries), 1)
	if !strings.Contains(s, "tries = "+strconv.Itoa(tries)) {
		t.Fatal("default.toml has no [blank] keep/tries lines to change")
	}
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

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

func newHost(t *testing.T) (*host, *btrfs.FS) {
	tfs, fsys := converted(t)
	return &host{tfs: tfs, root: t.TempDir(), now: at(0)}, fsys
}

// checkBlank checks that the blank is a read-only snapshot of parent and
// that no leftover is there.
func checkBlank(t *testing.T, fsys *btrfs.FS, parent string) btrfs.Subvolume {
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

// history returns the names of the former blanks, newest first.
func history(t *testing.T, fsys *btrfs.FS) []string {
	t.Helper()
	var out []string
	for _, e := range blanks.Former(blanks.History(blank, subvolumes(t, fsys))) {
		if !e.ReadOnly {
			t.Errorf("former blank %s is writable", e.Name)
		}
		out = append(out, e.Name)
	}
	return out
}

// unchanged checks that every subvolume but the blank and its history kept
// its id, and that none appeared besides them.
func unchanged(t *testing.T, before, after map[string]btrfs.Subvolume) {
	t.Helper()
	mine := func(p string) bool {
		b, _, ok := names.ParseBlankHistory(p)
		return p == blank || ok && b == blank
	}
	for p, s := range before {
		if mine(p) {
			continue
		}
		if a, ok := after[p]; !ok || a.ID != s.ID || a.UUID != s.UUID {
			t.Errorf("%s changed: before %d %v, after %d %v (exists %t)", p, s.ID, s.UUID, a.ID, a.UUID, ok)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok && !mine(p) {
			t.Errorf("%s appeared", p)
		}
	}
}

func readTrial(t *testing.T, tfs *btrfstest.FS) *blanks.Trial {
	t.Helper()
	tr, err := blanks.ReadTrial(tfs.Mount, blanks.TrialPath(config.Default()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestProvisionCommit(t *testing.T) {
	h, fsys := newHost(t)
	before := subvolumes(t, fsys)
	archive, err := os.ReadDir(filepath.Join(h.tfs.Mount, "old_roots/@root"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := h.run(t, "--commit")
	if code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []string{"replace blank @root-blank with a snapshot of @root", "the old blank becomes " + former(0),
		"on trial until a boot reaches boot-complete.target, fallback " + former(0), "is the live root", "former blank of @root"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	after := subvolumes(t, fsys)
	b := checkBlank(t, fsys, "@root")
	if b.ID == before[blank].ID {
		t.Errorf("blank still has id %d, want a new subvolume", b.ID)
	}
	// The old blank is the former one, the same subvolume (so the live
	// root still names it as its parent).
	if f := after[former(0)]; f.ID != before[blank].ID || f.UUID != before[blank].UUID || !f.ReadOnly {
		t.Errorf("%s = %+v, want the old blank %+v, read-only", former(0), f, before[blank])
	}
	unchanged(t, before, after)
	if got, err := os.ReadFile(filepath.Join(h.tfs.Mount, blank, "upgraded")); err != nil || string(got) != "v2" {
		t.Errorf("new blank/upgraded = %q, %v; want the live root's content", got, err)
	}
	if err := os.WriteFile(filepath.Join(h.tfs.Mount, blank, "x"), nil, 0o644); err == nil {
		t.Error("wrote into the new blank")
	}
	if a2, _ := os.ReadDir(filepath.Join(h.tfs.Mount, "old_roots/@root")); len(a2) != len(archive) {
		t.Errorf("archive changed: %v, was %v", a2, archive)
	}
	want := blanks.Trial{Version: blanks.TrialVersion, Subvolume: "@root", Blank: blank, UUID: b.UUID.String(),
		Committed: at(0), Fallback: former(0), FallbackUUID: before[blank].UUID.String()}
	if tr := readTrial(t, h.tfs); tr == nil || *tr != want {
		t.Errorf("trial = %+v, want %+v", tr, want)
	}
	log, err := os.ReadFile(job.Env{Root: h.root}.AuditPath())
	if err != nil || !strings.Contains(string(log), `"action":"replace-blank","path":"@root-blank","result":"success"`) {
		t.Errorf("audit log = %s, %v; want the replacement", log, err)
	}
	// Again, an hour later, while the first is still on trial: its
	// fallback stays the previous good blank.
	h.now = at(1)
	if code, o, e := h.run(t, "--blank-from", "@root", "--replace-blank"); code != job.ExitOK {
		t.Fatalf("second commit exit %d\n%s%s", code, o, e)
	}
	checkBlank(t, fsys, "@root")
	if got, want := history(t, fsys), []string{former(1), former(0)}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("history = %v, want %v", got, want)
	}
	if tr := readTrial(t, h.tfs); tr == nil || tr.Fallback != former(0) || tr.FallbackUUID != before[blank].UUID.String() {
		t.Errorf("trial after a second commit = %+v, want the fallback %s", tr, former(0))
	}
	// Twice in one second: the second retires to the next free second.
	if code, o, e := h.run(t, "--commit"); code != job.ExitOK || !strings.Contains(o, names.BlankHistory(blank, at(1).Add(time.Second))) {
		t.Fatalf("third commit exit %d\n%s%s", code, o, e)
	}
}

func TestProvisionCommitFromDirectory(t *testing.T) {
	h, fsys := newHost(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "clean"), []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := subvolumes(t, fsys)
	if code, out, stderr := h.run(t, "--blank-from", src, "--commit"); code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	after := subvolumes(t, fsys)
	unchanged(t, before, after)
	if b := after[blank]; !b.ReadOnly || b.ID == before[blank].ID {
		t.Errorf("blank = %+v, want a new read-only subvolume", b)
	}
	if _, err := os.Stat(filepath.Join(h.tfs.Mount, blank, "clean")); err != nil {
		t.Errorf("new blank lacks the copied file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.tfs.Mount, blank, "marker")); err == nil {
		t.Error("new blank still has the old blank's content")
	}
	if _, err := os.Stat(filepath.Join(h.tfs.Mount, former(0), "marker")); err != nil {
		t.Errorf("former blank lost the old content: %v", err)
	}
}

// TestProvisionCommitKeep commits five times with keep = 1: the newest
// former blank stays, and beyond it the one the running root came from
// (which is also the fallback: no trial boot confirmed a later one), and
// nothing else.
func TestProvisionCommitKeep(t *testing.T) {
	h, fsys := newHost(t)
	h.cfg = withBlankConfig(t, 1, 2)
	running := subvolumes(t, fsys)[blank]
	for i := range 5 {
		h.now = at(i)
		if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
			t.Fatalf("commit %d exit %d\n%s%s", i, code, out, stderr)
		}
	}
	if got, want := history(t, fsys), []string{former(4), former(0)}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("history = %v, want %v", got, want)
	}
	if f := subvolumes(t, fsys)[former(0)]; f.UUID != running.UUID {
		t.Errorf("%s = %v, want the blank the running root came from (%v)", former(0), f.UUID, running.UUID)
	}
	// keep = 0 without trials: only the running root's blank stays.
	h.cfg = withBlankConfig(t, 0, 0)
	h.now = at(5)
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK || !strings.Contains(out, "delete former "+former(5)+", "+former(4)) {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	if got := history(t, fsys); strings.Join(got, " ") != former(0) {
		t.Errorf("history with keep = 0 = %v, want only %s", got, former(0))
	}
	if tr := readTrial(t, h.tfs); tr != nil {
		t.Errorf("trial with tries = 0: %+v", tr)
	}
}

// TestProvisionCommitCrash stops a commit after each step, as a crash
// would, and checks that a valid read-only blank is in place at that
// moment and that the next run (a plain provision, or another commit)
// finishes or undoes it: one blank, the old one in the history, nothing
// lost. A power cut can also lose the uncommitted steps after the build:
// that is the state after "built" or "trial".
func TestProvisionCommitCrash(t *testing.T) {
	for _, tc := range []struct {
		stop      string
		blankFrom string // the blank in place after the crash is a snapshot of this
		leftover  bool   // the other blank is under the temporary name
		next      []string
		repair    string // what the next run says it does first, "" for nothing
		nextFrom  string // the blank after the next run is a snapshot of this
		history   int    // former blanks after the next run
	}{
		{"built", "@installed", true, nil, "remove leftover subvolume " + leftover, "@installed", 0},
		{"trial", "@installed", true, nil, "remove leftover subvolume " + leftover, "@installed", 0},
		{"exchanged", "@root", true, nil, "retire former blank " + leftover, "@root", 1},
		{"retired", "@root", false, nil, "", "@root", 1},
		{"pruned", "@root", false, nil, "", "@root", 1},
		{"built", "@installed", true, []string{"--commit"}, "remove leftover subvolume " + leftover, "@root", 1},
		{"exchanged", "@root", true, []string{"--commit"}, "retire former blank " + leftover, "@root", 2},
	} {
		t.Run(tc.stop+" then "+strings.Join(tc.next, " "), func(t *testing.T) {
			h, fsys := newHost(t)
			cfg := config.Default()
			if tc.stop == "pruned" {
				// A former blank to prune: keep = 0, no trial, one commit
				// before (its former blank stays: the running root's).
				h.cfg = withBlankConfig(t, 0, 0)
				var err error
				if cfg, err = config.Load(h.cfg); err != nil {
					t.Fatal(err)
				}
				if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
					t.Fatalf("first commit exit %d\n%s%s", code, out, stderr)
				}
				h.now = at(1)
			}
			before := subvolumes(t, fsys)
			hist := len(history(t, fsys))
			obs, err := Observe(fsys, Paths(cfg))
			if err != nil {
				t.Fatal(err)
			}
			r := Plan(cfg, obs, Options{BlankFrom: "@root", ReplaceBlank: true, Now: h.now, Mounted: map[uint64]bool{}})
			if len(r.Actions) != 1 || r.Actions[0].Op != OpReplace {
				t.Fatalf("plan = %v, want one replacement", r.Actions)
			}
			steps := []string{}
			err = apply(context.Background(), fsys, r.Actions[0], func(step string) bool {
				steps = append(steps, step)
				s, _, _ := strings.Cut(step, " ")
				return s == tc.stop
			})
			if err != errStopped {
				t.Fatalf("apply stopped after %s: %v (steps %v)", tc.stop, err, steps)
			}
			subs := subvolumes(t, fsys)
			if b := subs[blank]; !b.ReadOnly || b.ParentUUID != subs[tc.blankFrom].UUID {
				t.Errorf("after the crash %s = %+v, want a read-only snapshot of %s", blank, b, tc.blankFrom)
			}
			if l, ok := subs[leftover]; ok != tc.leftover || ok && !l.ReadOnly {
				t.Errorf("after the crash %s = %+v (exists %t), want the other blank read-only: %t", leftover, l, ok, tc.leftover)
			}
			h.now = h.now.Add(time.Minute)
			code, out, stderr := h.run(t, tc.next...)
			if code != job.ExitOK || tc.repair != "" && !strings.Contains(out, tc.repair) || tc.repair == "" && strings.Contains(out, "leftover") {
				t.Fatalf("next run exit %d, want 0 and %q\n%s%s", code, tc.repair, out, stderr)
			}
			checkBlank(t, fsys, tc.nextFrom)
			unchanged(t, before, subvolumes(t, fsys))
			got := history(t, fsys)
			if tc.stop == "pruned" {
				hist-- // the commit deleted the former blank it retired
			}
			if len(got) != hist+tc.history {
				t.Errorf("history = %v, want %d former blank(s)", got, hist+tc.history)
			}
			// The former blank of the interrupted commit is the old blank
			// (its UUID), unless the commit deleted it.
			if tc.history > 0 && tc.stop != "pruned" {
				found := false
				for _, e := range blanks.History(blank, subvolumes(t, fsys)) {
					found = found || !e.Current && e.UUID == before[blank].UUID.String()
				}
				if !found {
					t.Errorf("the old blank %v is not in the history %v", before[blank].UUID, got)
				}
			}
			// A trial file written before the exchange names a blank that
			// is not the current one: no boot heeds it.
			if tr := readTrial(t, h.tfs); tr != nil && tc.next == nil && tc.leftover && tc.blankFrom == "@installed" {
				c := blanks.Choose(config.Default().Ephemeral()[0], true, blanks.Input{Subvolumes: subvolumes(t, fsys), Trial: tr, Tries: 2})
				if c.Source != blanks.SourceDefault || c.Trial != nil {
					t.Errorf("a stale trial %+v gives %+v, want the default blank", tr, c)
				}
			}
		})
	}
}

func TestProvisionCommitKeepsMountedFormerBlank(t *testing.T) {
	h, fsys := newHost(t)
	mnt := t.TempDir()
	sh(t, "mount", "-o", "ro,subvol="+blank, h.tfs.Device, mnt)
	t.Cleanup(func() { sh(t, "umount", mnt) })
	old := subvolumes(t, fsys)[blank]
	h.cfg = withBlankConfig(t, 0, 0)
	for i := range 2 {
		h.now = at(i)
		if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
			t.Fatalf("commit %d exit %d\n%s%s", i, code, out, stderr)
		}
	}
	subs := subvolumes(t, fsys)
	if f := subs[former(0)]; f.UUID != old.UUID {
		t.Errorf("%s = %+v, want the mounted old blank", former(0), f)
	}
	if got := history(t, fsys); strings.Join(got, " ") != former(0) {
		t.Errorf("history = %v, want only the mounted (and running) %s", got, former(0))
	}
	checkBlank(t, fsys, "@root")
}

func TestProvisionCommitDryRun(t *testing.T) {
	h, fsys := newHost(t)
	before := subvolumes(t, fsys)
	code, out, stderr := h.run(t, "--commit", "--dry-run", "--json")
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if !rep.DryRun || len(rep.Actions) != 1 || rep.Actions[0].Op != OpReplace || rep.Actions[0].Path != blank || rep.Actions[0].From != "@root" ||
		rep.Actions[0].Commit == nil || rep.Actions[0].Commit.Retire != former(0) {
		t.Errorf("--json report = %+v, want one replace-blank of %s from @root retiring to %s", rep, blank, former(0))
	}
	after := subvolumes(t, fsys)
	unchanged(t, before, after)
	if after[blank].ID != before[blank].ID || len(history(t, fsys)) != 0 || readTrial(t, h.tfs) != nil {
		t.Error("dry run committed")
	}
	code, out, _ = h.run(t, "--blank-from", "@root", "--replace-blank", "--dry-run")
	if code != job.ExitOK || !strings.Contains(out, "would provision (dry run) 1 item(s)") || !strings.Contains(out, "replace blank @root-blank") {
		t.Errorf("dry-run output (exit %d):\n%s", code, out)
	}
}
