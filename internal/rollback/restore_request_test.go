package rollback

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
)

// A restore staged with impermanence-restore --next-boot is performed by the
// next rollback, before the permanent subvolumes are mounted.
func TestRollbackAppliesStagedRestore(t *testing.T) {
	tfs := layout(t)
	fsys := openFS(t, tfs)
	cfg := config.Default()
	sv, snap := stageRestore(t, tfs, fsys, cfg)

	auditLog := filepath.Join(t.TempDir(), "audit.jsonl")
	code, out := rollback(t, tfs, runOpts{auditLog: auditLog})
	if code != job.ExitOK {
		t.Fatalf("rollback exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "staged restore of "+sv+" from "+snap+": done") {
		t.Errorf("output does not report the staged restore:\n%s", out)
	}
	// audited as impermanence-restore --apply-requests audits it (the VM
	// tier's replication scenario found the initrd's swap missing there)
	events, _ := os.ReadFile(auditLog)
	want := regexp.MustCompile(`"job":"rollback","action":"restore-staged","subvolume":"` + regexp.QuoteMeta(sv) + `","path":"` + regexp.QuoteMeta(snap) + `","result":"success"`)
	if !want.Match(events) {
		t.Errorf("no restore-staged event of %s in the audit log:\n%s", sv, events)
	}
	if b, err := os.ReadFile(filepath.Join(tfs.Mount, sv, "app/data")); err != nil || string(b) != "v1" {
		t.Errorf("%s/app/data = %q, %v; want v1 from the snapshot", sv, b, err)
	}
	left, err := restorereq.ReadRequests(tfs.Mount, cfg)
	if err != nil || len(left.Requests) != 0 {
		t.Errorf("requests left after the rollback: %+v, %v", left.Requests, err)
	}
	if s, err := fsys.Info(sv); err != nil || s.ReadOnly {
		t.Errorf("%s after the restore: %+v, %v; want a writable subvolume", sv, s, err)
	}
}

// stageRestore stages the restore of @var-lib-services from a snapshot of
// it holding app/data "v1"; the live subvolume then holds "v2".
func stageRestore(t *testing.T, tfs *btrfstest.FS, fsys *btrfs.FS, cfg *config.Config) (sv, snap string) {
	t.Helper()
	sv = "@var-lib-services"
	snap = "@snapshots/" + sv + "/20261125T100000Z"
	write(t, filepath.Join(tfs.Mount, sv, "app/data"), "v1")
	if err := os.MkdirAll(filepath.Join(tfs.Mount, "@snapshots", sv), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Snapshot(sv, snap, true); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(tfs.Mount, sv, "app/data"), "v2")
	info, err := fsys.Info(snap)
	if err != nil {
		t.Fatal(err)
	}
	req := restorereq.Requests{Version: restorereq.RequestVersion, Requests: []restorereq.Request{{
		Subvolume: sv, Snapshot: snap, SnapshotID: info.ID, SnapshotUUID: info.UUID,
		Requested: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}}}
	if err := restorereq.WriteRequests(tfs.Mount, cfg, req); err != nil {
		t.Fatal(err)
	}
	return sv, snap
}
