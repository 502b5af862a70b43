package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// logFiles returns the events of path's rotated files and path, oldest
// first, checking that every line is whole, and the names present.
func logFiles(t *testing.T, path string) ([]Event, []string) {
	t.Helper()
	var all []Event
	var names []string
	es, _ := os.ReadDir(filepath.Dir(path))
	for i := len(es); i >= 0; i-- {
		p := path
		if i > 0 {
			p = path + "." + strconv.Itoa(i)
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		names = append(names, filepath.Base(p))
		all = append(all, wholeLines(t, p)...)
	}
	return all, names
}

func run(t *testing.T, path string, p Policy, evs ...Event) {
	t.Helper()
	l, err := OpenPolicy(path, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := l.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func numbered(job string, i int) Event {
	return Event{Job: job, Action: "a", Path: strconv.Itoa(i), Result: ResultSuccess}
}

// Runs rotate the log at MaxSize, keep Keep rotated files and lose nothing
// but what retention drops: the kept files hold the newest events, in
// order, without a gap.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := Policy{MaxSize: 1000, Keep: 3}
	n := 0
	for range 60 {
		run(t, path, p, numbered("j", n), numbered("j", n+1), numbered("j", n+2))
		n += 3
	}
	got, names := logFiles(t, path)
	if diff := cmp.Diff([]string{"audit.jsonl.3", "audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"}, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	first, _ := strconv.Atoi(got[0].Path)
	var want []Event
	for i := first; i < n; i++ {
		want = append(want, numbered("j", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events kept (-want +got):\n%s", diff)
	}
	// A rotated file is at least MaxSize and less than one run beyond it.
	runSize := int64(0)
	for i := range 3 {
		b, _ := json.Marshal(numbered("j", n-3+i))
		runSize += int64(len(b)) + 1
	}
	for _, name := range names[:3] {
		fi, _ := os.Stat(filepath.Join(filepath.Dir(path), name))
		if fi.Size() < p.MaxSize || fi.Size() >= p.MaxSize+runSize {
			t.Errorf("%s: %d bytes, want %d to %d", name, fi.Size(), p.MaxSize, p.MaxSize+runSize-1)
		}
	}
	if first == 0 {
		t.Errorf("nothing was dropped: retention did not run")
	}
}

// Concurrent writers, each opening the log again and again (rotating it
// meanwhile), lose and split no event.
func TestRotationConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := Policy{MaxSize: 2000, Keep: 1000} // nothing is dropped
	var wg sync.WaitGroup
	const writers, runs = 6, 40
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range runs {
				l, err := OpenPolicy(path, p)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range 3 {
					l.Write(numbered("w"+strconv.Itoa(w), r*3+i))
				}
				l.Close()
			}
		}()
	}
	wg.Wait()
	got, names := logFiles(t, path)
	if len(names) < 10 {
		t.Errorf("only %d files: the test did not rotate much", len(names))
	}
	var want, have []string
	for w := range writers {
		for i := range runs * 3 {
			want = append(want, fmt.Sprintf("w%d/%d", w, i))
		}
	}
	for _, e := range got {
		have = append(have, e.Job+"/"+e.Path)
	}
	slices.Sort(want)
	slices.Sort(have)
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// The oldest file is not deleted while a writer still has it open (a long
// job that started before several rotations): its later events are kept.
func TestRotationSparesAHeldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	p := Policy{MaxSize: 1, Keep: 2}
	long, err := OpenPolicy(path, p)
	if err != nil {
		t.Fatal(err)
	}
	long.Write(numbered("long", 0))
	for i := range 4 { // rotations: long's file goes to .1, .2, then would be deleted
		run(t, path, p, numbered("short", i))
	}
	long.Write(numbered("long", 1))
	long.Close()
	got, names := logFiles(t, path)
	var have []string
	for _, e := range got {
		have = append(have, e.Job+"/"+e.Path)
	}
	want := []string{"long/0", "long/1", "short/0", "short/1", "short/2", "short/3"}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("events (-want +got):\n%s (files %v)", diff, names)
	}
	// Once it is closed, the next rotation applies retention again.
	run(t, path, p, numbered("short", 4))
	_, names = logFiles(t, path)
	if diff := cmp.Diff([]string{"audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"}, names); diff != "" {
		t.Errorf("files after the writer closed (-want +got):\n%s", diff)
	}
}
