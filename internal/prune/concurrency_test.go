package prune_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// Snapshot, prune and maintain started together 30 times: every run
// succeeds (they only wait for the lock), nothing is deleted twice, and the
// counts are as expected.
func TestConcurrentJobs(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	now := time.Now()
	var fakes []string
	for i := range 200 {
		fakes = append(fakes, "@snapshots/@persist/"+names.Snapshot(now.Add(-time.Duration(i+2)*time.Hour), ""))
	}
	fake(t, fsys, fakes...)
	const rounds = 30
	for round := range rounds {
		var wg sync.WaitGroup
		codes := make([]int, 3)
		outs := make([]*jobtest.SyncBuffer, 3)
		for i, f := range []func(context.Context, []string, job.Env) int{snapshot.Run, prune.Run, maintain.Run} {
			outs[i] = &jobtest.SyncBuffer{}
			env := l.Env
			env.Stdout, env.Stderr = outs[i], outs[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = f(context.Background(), l.Args(), env)
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != 0 {
				t.Fatalf("round %d: job %d exited %d:\n%s", round, i, c, outs[i])
			}
			for line := range strings.Lines(outs[i].String()) {
				if strings.Contains(line, "level=ERROR") || strings.Contains(line, "FAILED") ||
					(strings.Contains(line, "level=WARN") && !strings.Contains(line, "lock")) {
					t.Errorf("round %d: job %d: %s", round, i, line)
				}
			}
		}
	}
	// Counts: 4 new snapshots per round, and the fake ones deleted once each.
	all := paths(t, fsys, "@snapshots/")
	fakeLeft, fresh := 0, 0
	for _, p := range all {
		if slices.Contains(fakes, p) {
			fakeLeft++
		} else {
			fresh++
		}
	}
	if fresh != 4*rounds {
		t.Errorf("%d new snapshots, want %d", fresh, 4*rounds)
	}
	evs, err := audit.Read(l.Env.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, e := range evs {
		var n int
		if _, err := fmt.Sscanf(e.Action, "delete %d snapshots", &n); err == nil {
			deleted += n
		}
		if e.Result == audit.ResultFailure {
			t.Errorf("failed audit event %+v", e)
		}
	}
	if deleted != 200-fakeLeft {
		t.Errorf("audit says %d deleted, but %d of the 200 fake snapshots are gone", deleted, 200-fakeLeft)
	}
	// What is left is stable: another plan deletes nothing.
	l.Reset()
	if code := prune.Run(context.Background(), l.Args("--dry-run", "--json"), l.Env); code != 0 {
		t.Fatalf("prune --dry-run: exit %d", code)
	}
	var rep prune.Report
	json.Unmarshal([]byte(l.Out.String()), &rep)
	if n := rep.Plan.Deletions(); n != 0 {
		t.Errorf("after the rounds, the plan still deletes %d", n)
	}
}

// TestPruneTimeAfterLock: prune takes its time once it holds the lock, so
// the snapshots its predecessor took while prune waited are not "in the
// future".
func TestPruneTimeAfterLock(t *testing.T) {
	l := jobtest.New(t)
	fsys := open(t, l)
	// The snapshot's name is its creation time (otime), as a real one's.
	t0 := time.Now().UTC().Truncate(time.Second).Add(-5 * time.Minute)
	var released atomic.Bool
	l.Env.Now = func() time.Time { // the clock moves on while prune waits
		if released.Load() {
			return t0.Add(10 * time.Minute)
		}
		return t0
	}
	held, err := lock.Acquire(context.Background(), l.Env.LockDir(), fsys.FSID().String(), "snapshot", 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- prune.Run(context.Background(), l.Args("--timezone", "UTC", "--json"), l.Env) }()
	for !strings.Contains(l.Err.String(), "waiting for the filesystem lock") {
		time.Sleep(5 * time.Millisecond)
	}
	// The predecessor takes its snapshot five minutes after prune started.
	taken := "@snapshots/@persist/" + names.Snapshot(t0.Add(5*time.Minute), "")
	fake(t, fsys, taken)
	released.Store(true)
	held.Release()
	if code := <-done; code != 0 {
		t.Fatalf("prune exit %d\n%s", code, l.Err)
	}
	var rep prune.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Plan.Warnings) > 0 || strings.Contains(l.Err.String(), "future") {
		t.Errorf("warnings %q\n%s", rep.Plan.Warnings, l.Err)
	}
	var got []string
	for _, it := range rep.Plan.Items {
		got = append(got, fmt.Sprintf("%s delete=%t %s", it.Path, it.Delete, it.Reason))
	}
	// The pure plan at the time after the lock: kept as the newest, for
	// its buckets, not as "in the future".
	ds := retention.Select([]retention.Snapshot{{Name: path.Base(taken), Time: t0.Add(5 * time.Minute)}},
		prune.Policy(config.Default(), time.UTC), t0.Add(10*time.Minute))
	want := []string{taken + " delete=false " + ds[0].String()}
	if !slices.Equal(got, want) {
		t.Errorf("plan %q, want %q", got, want)
	}
}
