package btrfs_test

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	dbtrfs "github.com/dennwc/btrfs"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
)

// BenchmarkList lists 5,000 read-only snapshots with otime and flags, three
// ways: List, dennwc's ListSubvolumes and `btrfs subvolume list` (a process).
// It builds the filesystem first (about 10 s); with BTRFS_BENCH_MOUNT set to a
// top-level mount it lists that filesystem instead.
func BenchmarkList(b *testing.B) {
	mount := os.Getenv("BTRFS_BENCH_MOUNT")
	if mount == "" {
		fs, tfs := newFS(b, btrfstest.Size(4<<30))
		start := time.Now()
		populate(b, fs, 5, 1000)
		b.Logf("created 5,000 read-only snapshots in %v", time.Since(start))
		mount = tfs.Mount
	}
	fs, err := btrfs.Open(mount)
	if err != nil {
		b.Fatal(err)
	}
	defer fs.Close()
	n := len(list(b, fs))

	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			if _, err := fs.List(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "subvolumes")
	})
	b.Run("dennwc", func(b *testing.B) {
		d, err := dbtrfs.Open(mount, true)
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		for b.Loop() {
			if _, err := d.ListSubvolumes(nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("btrfs-progs", func(b *testing.B) {
		for b.Loop() {
			if out, err := exec.Command("btrfs", "subvolume", "list", mount).CombinedOutput(); err != nil {
				b.Fatalf("btrfs subvolume list: %v: %s", err, out)
			}
		}
	})
}

// populate creates subvolumes @s0… and perSource read-only snapshots of each
// in @snapshots/@sN/<timestamp>, the layout of the snapshot helper. Several
// goroutines let the kernel batch snapshots into fewer commits.
func populate(tb testing.TB, fs *btrfs.FS, sources, perSource int) {
	tb.Helper()
	create(tb, fs, "@snapshots")
	for s := range sources {
		create(tb, fs, fmt.Sprintf("@s%d", s), fmt.Sprintf("@snapshots/@s%d/", s))
	}
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(j[1]) * time.Hour)
				dst := fmt.Sprintf("@snapshots/@s%d/%s", j[0], at.Format("20060102T150405Z"))
				if err := fs.Snapshot(fmt.Sprintf("@s%d", j[0]), dst, true); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range perSource {
		for s := range sources {
			jobs <- [2]int{s, i}
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}
