package rollback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

func TestSafePoints(t *testing.T) {
	reset := []Step{
		{Op: OpSnapshot, Subvolume: "@root", From: "@root-blank", Path: "@root.new", Action: "reset"}, // 0
		{Op: OpCompression, Subvolume: "@root", Path: "@root.new", Value: "zstd", Action: "reset"},    // 1
		{Op: OpExchange, Subvolume: "@root", Path: "@root.new", To: "@root", Action: "reset"},         // 2
		{Op: OpMkdir, Subvolume: "@root", Path: "old_roots/@root", Action: "archive"},                 // 3
		{Op: OpRename, Subvolume: "@root", Path: "@root.new", To: "old_roots/@root/a", Action: "archive"},
		{Op: OpReadOnly, Subvolume: "@root", Path: "old_roots/@root/a", Value: "true", Action: "archive"}, // 5
		{Op: OpCreate, Subvolume: "@tmp", Path: "@tmp.new", Action: "reset"},
		{Op: OpNoCoW, Subvolume: "@tmp", Path: "@tmp.new", Action: "reset"},
		{Op: OpExchange, Subvolume: "@tmp", Path: "@tmp.new", To: "@tmp", Action: "reset"},
		{Op: OpReadOnly, Subvolume: "@tmp", Path: "@tmp.new", Value: "false", Action: "discard"},
		{Op: OpDelete, Subvolume: "@tmp", Path: "@tmp.new/nested", ID: 300, Action: "discard"},
		{Op: OpDelete, Subvolume: "@tmp", Path: "@tmp.new", ID: 299, Action: "discard"}, // 11
		{Op: OpCreate, Subvolume: "@new", Path: "@new.new", Action: "reset"},
		{Op: OpRename, Subvolume: "@new", Path: "@new.new", To: "@new", Action: "reset"}, // 13
		{Op: OpDelete, Subvolume: "@root", Path: "old_roots/@root/old", ID: 7, Action: "prune"},
		{Op: OpCommit, Action: "commit"},
	}
	want := []bool{false, false, false, false, false, true, false, false, false, false, false, true, false, true, true, true}
	got := SafePoints(reset)
	for i := range reset {
		if got[i] != want[i] {
			t.Errorf("SafePoints: after step %d (%s) safe = %t, want %t", i, reset[i], got[i], want[i])
		}
	}
	// A repair of an interrupted run's S.new: it was not made by this
	// plan, so its repair steps stay safe points, as before; the reset
	// after them is not until it is done.
	repair := []Step{
		{Op: OpDelete, Subvolume: "@root", Path: "@root.new", ID: 9, Action: "repair"},
		{Op: OpSnapshot, Subvolume: "@root", From: "@root-blank", Path: "@root.new", Action: "reset"},
	}
	if got := SafePoints(repair); !got[0] || got[1] {
		t.Errorf("SafePoints(repair, reset) = %v, want [true false]", got)
	}
	if got := SafePoints(nil); len(got) != 0 {
		t.Errorf("SafePoints(nil) = %v", got)
	}
}

// TestSIGTERMAtEveryStep: a signal that arrives during any step of the
// rollback stops it at the next safe point: the state it leaves is the
// one before a subvolume's reset or the one after it, never S.new or an
// archive still writable, so the next boot repairs nothing of its making.
func TestSIGTERMAtEveryStep(t *testing.T) {
	n, _ := crashPlanSteps(t)
	for k := 1; k <= n; k++ {
		t.Run(fmt.Sprintf("sigterm-during-%02d", k), func(t *testing.T) {
			tfs, fsys := crashFixture(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			i := 0
			code, out := rollback(t, tfs, runOpts{now: t0, ctx: ctx, stop: func(string) bool {
				if i++; i == k {
					cancel(errors.New("stopped by SIGTERM"))
				}
				return false
			}})
			if code != job.ExitOK && code != job.ExitFailure {
				t.Fatalf("exit %d, want 0 or 1:\n%s", code, out)
			}
			subs := subvols(t, fsys)
			for p, s := range subs {
				if strings.HasSuffix(p, names.NewSuffix) {
					t.Errorf("a signal during step %d left %s:\n%s", k, p, out)
				}
				// This run's archive (the first run's boot id, host's): the
				// archive itself, not a subvolume nested in it.
				name, ok := strings.CutPrefix(p, "old_roots/@root/")
				if ok && !strings.Contains(name, "/") && strings.HasSuffix(name, "-0123abcd") && !s.ReadOnly {
					t.Errorf("a signal during step %d left this run's archive %s writable", k, p)
				}
			}
			for _, sv := range []string{"@root", "@var-cache", "@var-tmp"} {
				if s, ok := subs[sv]; !ok || s.ReadOnly {
					t.Errorf("%s: present %t, read-only %t; want it whole and writable", sv, ok, s.ReadOnly)
				}
			}
			h2 := hostBoot(t, "", "feedc0de-0000-0000-0000-000000000000")
			code, out = rollback(t, tfs, runOpts{root: h2, now: t0.Add(time.Hour)})
			if code != job.ExitOK || strings.Contains(out, "interrupted run") {
				t.Errorf("next boot after a signal during step %d: exit %d or a repair of an interrupted run:\n%s", k, code, out)
			}
		})
	}
}
