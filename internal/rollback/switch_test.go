package rollback

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// With server-impermanence.rollback=0 the helper runs (the generator still
// hooks it) and changes nothing on the filesystem: the ephemeral root keeps
// its content, nothing is archived, a staged restore stays staged. It records
// the skip in the run directory: the state record and the audit event
// (docs/recovery.md, "Boot without the rollback").
func TestEmergencySwitchTouchesNothing(t *testing.T) {
	tfs := layout(t)
	fsys := openFS(t, tfs)
	cfg := config.Default()
	write(t, filepath.Join(tfs.Mount, "@root/root/canary"), "state")
	sv, _ := stageRestore(t, tfs, fsys, cfg)
	before := subvols(t, fsys)

	h := host(t, "root=LABEL=server rd.server-impermanence.rollback=off quiet")
	code, out := rollback(t, tfs, runOpts{root: h})
	if code != job.ExitOK || !strings.Contains(out, "skipped: emergency switch server-impermanence.rollback=0 on the kernel command line") {
		t.Fatalf("rollback with the switch: exit %d\n%s", code, out)
	}

	if b, err := os.ReadFile(filepath.Join(tfs.Mount, "@root/root/canary")); err != nil || string(b) != "state" {
		t.Errorf("@root/root/canary = %q, %v; want the previous boot's state kept", b, err)
	}
	after := subvols(t, fsys)
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("subvolume %s appeared (nothing may be archived or created)", p)
		}
	}
	for p, s := range before {
		if a, ok := after[p]; !ok || a.ID != s.ID {
			t.Errorf("subvolume %s: before id %d, after %+v (present %v)", p, s.ID, a, ok)
		}
	}
	if b, err := os.ReadFile(filepath.Join(tfs.Mount, sv, "app/data")); err != nil || string(b) != "v2" {
		t.Errorf("%s/app/data = %q, %v; want v2 (the staged restore waits)", sv, b, err)
	}
	if left, err := restorereq.ReadRequests(tfs.Mount, cfg); err != nil || len(left.Requests) != 1 {
		t.Errorf("staged requests after the skip: %+v, %v; want the one request kept", left.Requests, err)
	}

	run := filepath.Join(h, "run/server-impermanence")
	rec, err := state.Read(run, Job)
	if err != nil || rec.Result != state.ResultSkipped {
		t.Errorf("state record = %+v, %v; want skipped", rec, err)
	}
	events, err := os.ReadFile(filepath.Join(run, "audit.jsonl"))
	if err != nil || strings.Count(string(events), "\n") != 1 || !strings.Contains(string(events), `"result":"skipped"`) {
		t.Errorf("run directory audit log = %q, %v; want one skipped event", events, err)
	}
}
