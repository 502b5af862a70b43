package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log/server-impermanence/audit.jsonl")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.FixedZone("CET", 3600))
	events := []Event{
		{Time: now, Job: "rollback", Action: "archive", Subvolume: "@root", Path: "old_roots/@root/20261125T194023Z-0123abcd", Result: ResultSuccess, Duration: 0.012},
		{Time: now, Job: "rollback", Action: "prune", Subvolume: "@root", Path: "old_roots/@root/x", Result: ResultFailure, Error: "subvolume is mounted"},
	}
	for _, e := range events {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// Reopening appends.
	l, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Event{Time: now, Job: "snapshot", Action: "create", Result: ResultSuccess}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(events, Event{Time: now, Job: "snapshot", Action: "create", Result: ResultSuccess})
	for i := range want {
		want[i].Time = want[i].Time.UTC()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit log (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(path)
	if n := bytes.Count(b, []byte("\n")); n != 3 {
		t.Errorf("audit log has %d lines, want 3:\n%s", n, b)
	}
	if !bytes.Contains(b, []byte(`"time":"2026-11-25T19:40:23Z"`)) {
		t.Errorf("audit log times are not UTC RFC 3339:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestConcurrentAppendsKeepLinesWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(path) // one descriptor per writer, like separate processes
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Close()
			for i := range 25 {
				if err := l.Append(Event{Job: "j", Action: "a", Path: string(rune('a'+w)) + string(rune('a'+i)), Result: ResultSuccess}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err := Read(path)
	if err != nil || len(got) != 100 {
		t.Fatalf("Read = %d events, %v; want 100 whole events", len(got), err)
	}
}
