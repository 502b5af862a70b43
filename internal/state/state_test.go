package state

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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

func TestWriteFileAtomicReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	for _, s := range []string{"one", "two"} {
		if err := WriteFileAtomic(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Errorf("after two writes: %q mode %v, want \"two\" 0640", b, fi.Mode().Perm())
	}
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing/x"), nil, 0o644); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
