package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFinishCarriesLastSuccessAndCounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var/lib/server-impermanence")
	if _, err := Read(dir, "rollback"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing record = %v, want ErrNotExist", err)
	}
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	if err := Finish(dir, Record{Job: "rollback", Result: ResultSuccess, Duration: 0.2, ConfigSHA256: "ab",
		Details: json.RawMessage(`{"archived":["x"]}`)}, t1); err != nil {
		t.Fatal(err)
	}
	if err := Finish(dir, Record{Job: "rollback", Result: ResultFailure, Error: "blank missing"}, t2); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, "rollback")
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Job: "rollback", LastRun: t2, LastSuccess: t1, Result: ResultFailure, Error: "blank missing",
		Runs: map[string]int64{ResultSuccess: 1, ResultFailure: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "rollback.json" {
		t.Errorf("state dir holds %v, want only rollback.json (no temporary files)", entries)
	}
}

func TestWriteRejectsBadJob(t *testing.T) {
	for _, job := range []string{"", "../x", ".hidden"} {
		if err := Write(t.TempDir(), Record{Job: job}); err == nil {
			t.Errorf("Write(job %q) = nil, want an error", job)
		}
	}
}

// A record is never written through a symbolic link, and a record that is
// a symbolic link, FIFO or directory is refused when read, without
// blocking.
func TestHostileRecord(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	os.Symlink(target, Path(dir, "snapshot"))
	syscall.Mkfifo(Path(dir, "prune"), 0o644)
	os.Mkdir(Path(dir, "maintain"), 0o755)
	got := map[string]string{}
	for _, job := range []string{"snapshot", "prune", "maintain"} {
		_, err := Read(dir, job)
		got["read "+job] = fmt.Sprint(err)
		got["write "+job] = fmt.Sprint(Write(dir, Record{Job: job, Result: ResultSuccess}))
	}
	want := map[string]string{
		"read snapshot":  Path(dir, "snapshot") + " is a symbolic link, not a regular file: refused",
		"write snapshot": "write state of snapshot: " + Path(dir, "snapshot") + " is a symbolic link, not a regular file: refused",
		"read prune":     Path(dir, "prune") + " is a FIFO, not a regular file: refused",
		"write prune":    "write state of prune: " + Path(dir, "prune") + " is a FIFO, not a regular file: refused",
		"read maintain":  Path(dir, "maintain") + " is a directory, not a regular file: refused",
		"write maintain": "write state of maintain: " + Path(dir, "maintain") + " is a directory, not a regular file: refused",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the symbolic link's target was written: %q", b)
	}
}
