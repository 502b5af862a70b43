package btrfs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const waitChildEnv = "BTRFS_WAIT_CHILD"

type waitChild struct {
	Mount string
	IDs   []uint64
}

// TestWaitDeletedChild waits for the deletions in a process of its own, for
// TestWaitDeletedSearches to trace, and prints how long it waited, its CPU
// time and its peak memory.
func TestWaitDeletedChild(t *testing.T) {
	var c waitChild
	if err := json.Unmarshal([]byte(os.Getenv(waitChildEnv)), &c); err != nil {
		t.Skip("child process only")
	}
	fs, err := btrfs.Open(c.Mount)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := fs.WaitDeleted(ctx, c.IDs, 0); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("%d %d %d\n", time.Since(t0).Milliseconds(),
		(ru.Utime.Nano()+ru.Stime.Nano())/1e6, ru.Maxrss/1024)
	os.Exit(0)
}

// Waiting for 5,000 deletions costs one walk of their root items (64 KiB of
// them per tree search) and one search per interval (the ioctls are counted,
// not timed): the wait searched for every pending subvolume every 20 ms
// (4 s of CPU), then checked each one at least twice (9,148 ioctls).
func TestWaitDeletedSearches(t *testing.T) {
	const n = 5000
	fs, tfs := newFS(t)
	// Five sources in five directories: parallel snapshots of one source
	// into one directory wait for each other (3 minutes for 5,000).
	srcs := []string{"@a", "@b", "@c", "@d", "@e"}
	for _, src := range srcs {
		create(t, fs, src, "snaps/"+src+"/")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				src := srcs[i%len(srcs)]
				if err := fs.Snapshot(src, fmt.Sprintf("snaps/%s/%05d", src, i), true); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var del []uint64
	for p, id := range ids(list(t, fs)) {
		if strings.HasPrefix(p, "snaps/") {
			del = append(del, id)
		}
	}
	if len(del) != n {
		t.Fatalf("%d snapshots, want %d", len(del), n)
	}
	slices.Sort(del) // deleted in id order, the order the cleaner frees them
	if got, err := fs.DeleteMany(del, nil); err != nil || got != n {
		t.Fatalf("DeleteMany: %d, %v", got, err)
	}
	arg, _ := json.Marshal(waitChild{Mount: tfs.Mount, IDs: del})
	cmd := syscount.Self("TestWaitDeletedChild", waitChildEnv+"="+string(arg))
	var out strings.Builder
	cmd.Stdout = &out
	ioctls := len(syscount.Run(t, cmd, "ioctl"))
	var ms, cpuMS, rssMB int
	if _, err := fmt.Sscan(out.String(), &ms, &cpuMS, &rssMB); err != nil {
		t.Fatalf("child printed %q: %v", out.String(), err)
	}
	// A walk's search returns about 130 root items; an interval is at least
	// 5 ms; a few more for opening the filesystem and the commit.
	limit := n/100 + ms/5 + 20
	t.Logf("waited %d ms for %d deletions: %d ioctls (limit %d), %d ms CPU and %d MB peak under strace",
		ms, n, ioctls, limit, cpuMS, rssMB)
	if ioctls > limit {
		t.Errorf("WaitDeleted for %d deletions: %d ioctls in %d ms, want at most %d", n, ioctls, ms, limit)
	}
	if rssMB > 20 { // memory is a count too: the wait holds the ids and 68 KiB of search memory
		t.Errorf("WaitDeleted for %d deletions: %d MB peak, want at most 20", n, rssMB)
	}
	if left := command(t, "btrfs", "subvolume", "list", "-d", tfs.Mount); left != "" {
		t.Errorf("btrfs subvolume list -d after WaitDeleted:\n%.500s", left)
	}
}
