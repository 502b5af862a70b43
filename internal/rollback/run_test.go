package rollback

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

func TestRollbackDefaultLayout(t *testing.T) {
	tfs := layout(t)
	root := filepath.Join(tfs.Mount, "@root")
	write(t, filepath.Join(root, "etc/hello"), "state of the previous boot")
	write(t, filepath.Join(tfs.Mount, "@var-cache/c"), "cache")
	write(t, filepath.Join(tfs.Mount, "@persist/etc/ssh/key"), "secret")
	before := tree(t, root)
	persist := tree(t, filepath.Join(tfs.Mount, "@persist"))
	fsys := openFS(t, tfs)
	blank := subvols(t, fsys)["@root-blank"]

	h := host(t, "")
	code, out := rollback(t, tfs, runOpts{root: h})
	if code != job.ExitOK {
		t.Fatalf("rollback exit %d:\n%s", code, out)
	}
	subs := subvols(t, fsys)
	if _, err := os.Stat(filepath.Join(root, "etc/hello")); !os.IsNotExist(err) {
		t.Errorf("@root still has etc/hello after the rollback (%v)", err)
	}
	if subs["@root"].ParentUUID != blank.UUID || subs["@root"].ReadOnly {
		t.Errorf("@root is not a writable snapshot of @root-blank: %+v", subs["@root"])
	}
	arch := "old_roots/@root/20261125T204023Z-0123abcd"
	if diff := cmp.Diff(before, tree(t, filepath.Join(tfs.Mount, arch))); diff != "" {
		t.Errorf("archive %s differs from the previous root (-want +got):\n%s", arch, diff)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@var-cache/c")); !os.IsNotExist(err) {
		t.Errorf("@var-cache was not reset (%v)", err)
	}
	if diff := cmp.Diff(persist, tree(t, filepath.Join(tfs.Mount, "@persist"))); diff != "" {
		t.Errorf("@persist changed:\n%s", diff)
	}
	if nocow, _ := fsys.NoCoW("@var-tmp"); !nocow {
		t.Error("@var-tmp lost NoCoW")
	}
	if c, _ := fsys.Compression("@var-cache"); c != "zstd" {
		t.Errorf("@var-cache compression = %q, want zstd", c)
	}
	for p := range subs {
		if filepath.Ext(p) == names.NewSuffix {
			t.Errorf("leftover %s", p)
		}
	}
	if len(archivesOf(t, tfs, "@var-cache")) != 0 {
		t.Error("@var-cache was archived, want deleted (archive = false)")
	}
	// State record with the config hash, audit log in the run dir
	// (the test mounts nothing at /var/log… but the default layout has
	// @var-log, so it goes there).
	rec, err := state.Read(filepath.Join(h, "run/server-impermanence"), Job)
	if err != nil || rec.Result != state.ResultSuccess || len(rec.ConfigSHA256) != 64 || rec.Counters["archived"] != 1 {
		t.Errorf("state record = %+v, %v; want success with the config hash and 1 archive", rec, err)
	}
	events, err := audit.Read(filepath.Join(tfs.Mount, "@var-log/server-impermanence/audit.jsonl"))
	if err != nil || len(events) == 0 || events[len(events)-1].Action != "run" || events[len(events)-1].Result != "success" {
		t.Errorf("audit log = %+v, %v", events, err)
	}

	// Second rollback in the same second: a distinct archive, never nested.
	write(t, filepath.Join(root, "second"), "x")
	if code, out := rollback(t, tfs, runOpts{root: h}); code != job.ExitOK {
		t.Fatalf("second rollback exit %d:\n%s", code, out)
	}
	got := archivesOf(t, tfs, "@root")
	want := []string{"20261125T204023Z-0123abcd", "20261125T204023Z-0123abcd-2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archives (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "old_roots/@root", want[1], "second")); err != nil {
		t.Errorf("second archive lacks its file: %v", err)
	}
	for _, a := range want {
		entries, _ := os.ReadDir(filepath.Join(tfs.Mount, "old_roots/@root", a))
		for _, e := range entries {
			if e.Name() == "old_roots" || e.Name() == want[0] {
				t.Errorf("archive %s nests %s", a, e.Name())
			}
		}
	}
}

func TestRollbackJSONAndDryRun(t *testing.T) {
	tfs := layout(t)
	write(t, filepath.Join(tfs.Mount, "@root/f"), "x")
	fsys := openFS(t, tfs)
	before := subvols(t, fsys)
	code, out := rollback(t, tfs, runOpts{}, "--dry-run", "--json")
	if code != job.ExitOK {
		t.Fatalf("dry run exit %d:\n%s", code, out)
	}
	var res Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if res.Result != "dry-run" || res.Plan == nil || len(res.Plan.Steps) == 0 || len(res.Plan.Archives) != 1 {
		t.Errorf("dry run result = %+v", res)
	}
	after := subvols(t, fsys)
	if len(before) != len(after) {
		t.Errorf("dry run changed the subvolumes: %d → %d", len(before), len(after))
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@root/f")); err != nil {
		t.Errorf("dry run reset @root: %v", err)
	}
	code, out = rollback(t, tfs, runOpts{}, "--dry-run")
	if code != job.ExitOK || !contains(out, "dry run", "exchange @root.new ⇄ @root", "archive: old_roots/@root/20261125T204023Z-0123abcd") {
		t.Errorf("dry run text exit %d:\n%s", code, out)
	}
}

func TestRollbackUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, job.ExitOK, "Usage: impermanence-rollback"},
		{[]string{"--version"}, job.ExitOK, "impermanence-rollback "},
		{[]string{"--bogus"}, job.ExitUsage, "flag provided but not defined"},
		{[]string{"extra"}, job.ExitUsage, "unexpected argument"},
	} {
		code, out := rollback(t, nil, runOpts{}, tc.args...)
		if code != tc.code || !contains(out, tc.want) {
			t.Errorf("rollback %v = %d\n%s\nwant %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}
}

var _ = time.Second
