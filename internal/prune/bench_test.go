package prune_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/prune"
)

// BenchmarkPrune5000Hourly prunes 5,000 hourly snapshots of @persist (real
// read-only snapshots) with the default retention, and reports how long the
// cleaner took to return the space after the command (s-space-returned).
// Run it with -benchtime=1x: the setup takes a while.
func BenchmarkPrune5000Hourly(b *testing.B) {
	b.StopTimer()
	for range b.N {
		l := jobtest.New(b)
		fsys := open(b, l)
		now := time.Now()
		if err := mkdirAll(l.FS.Mount + "/@snapshots/@persist"); err != nil {
			b.Fatal(err)
		}
		for i := range 5000 {
			p := "@snapshots/@persist/" + names.Snapshot(now.Add(-time.Duration(i)*time.Hour-31*time.Minute), "")
			if err := fsys.Snapshot("@persist", p, true); err != nil {
				b.Fatal(err)
			}
		}
		before, _ := fsys.List()
		b.StartTimer()
		t0 := time.Now()
		code := prune.Run(context.Background(), l.Args(), l.Env)
		cmd := time.Since(t0)
		b.StopTimer()
		if code != 0 {
			b.Fatalf("prune: exit %d\n%s", code, l.Err)
		}
		after, _ := fsys.List()
		var gone []uint64
		for _, s := range before {
			if !slices.ContainsFunc(after, func(a btrfsSubvolume) bool { return a.ID == s.ID }) {
				gone = append(gone, s.ID)
			}
		}
		t1 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := fsys.WaitDeleted(ctx, gone, 0); err != nil {
			b.Error(err)
		}
		cancel()
		b.ReportMetric(time.Since(t1).Seconds(), "s-space-returned")
		b.ReportMetric(cmd.Seconds(), "s-command")
		b.ReportMetric(float64(len(after)-(len(before)-5000)), "kept")
	}
}

type btrfsSubvolume = btrfs.Subvolume

func mkdirAll(p string) error { return os.MkdirAll(p, 0o700) }
