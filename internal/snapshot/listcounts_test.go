package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const listChildEnv = "SNAPSHOT_LIST_CHILD"

// TestListChild runs one `impermanence-snapshot list` in a process of its
// own, for TestListCounts to trace.
func TestListChild(t *testing.T) {
	var c fsyncChild
	if err := json.Unmarshal([]byte(os.Getenv(listChildEnv)), &c); err != nil {
		t.Skip("child process only")
	}
	os.Exit(snapshot.Run(context.Background(), c.Args, job.Env{Stdout: os.Stdout, Stderr: os.Stderr,
		Root: c.Root, Journal: func() bool { return false }}))
}

// What listing 5,000 snapshots does, counted, not timed (a timed test would
// flake on a loaded machine): into a pipe, table or JSON, at most 100
// write(2) calls (stdout is buffered: it took about 70,000 unbuffered, one
// per table cell and padding); at most one ioctl per 50 subvolumes and 20
// more (one tree search of 64 KiB per about 110 subvolumes, an INO_LOOKUP per
// directory holding snapshots: btrfs subvolume list makes one per
// subvolume); no garbage collection; and in process at most 1,000
// allocations besides the parse of the configuration and one per snapshot
// whose line carries a warning (its message: here every snapshot's but the
// newest), and 6 MB, where the listing made 106,000 and 14 MB.
func TestListCounts(t *testing.T) {
	const n, maxWrites, maxAllocs, maxBytes = 5000, 100, 1000, 6 << 20
	maxIoctls := n/50 + 20
	l := jobtest.New(t)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	svs := []string{"@persist", "@var-log", "@var-lib-services", "@var-lib-caddy", "@nix"}
	for _, sv := range svs {
		if err := os.MkdirAll(filepath.Join(l.FS.Mount, "@snapshots", sv), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshots made in parallel share their transaction commits.
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				sv := svs[i%len(svs)]
				name := names.Snapshot(now.Add(-time.Duration(i)*time.Hour), "")
				if err := fsys.Snapshot(sv, "@snapshots/"+sv+"/"+name, true); err != nil {
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
	for _, tc := range []struct {
		name  string
		args  []string
		lines int // of the output, or -1 for JSON
	}{
		// The header, a line per snapshot and a warning for each but the
		// newest: made now, they carry older times in their names.
		{"table", nil, 1 + n + n - 1},
		{"json", []string{"--json"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fsyncChild{Args: append([]string{"list", "--default", "--mount", l.FS.Mount}, tc.args...), Root: t.TempDir()}
			arg, _ := json.Marshal(c)
			cmd := syscount.Self("TestListChild", listChildEnv+"="+string(arg), "GODEBUG=gctrace=1")
			var out bytes.Buffer
			cmd.Stdout = &out // not an *os.File: exec gives the child a pipe
			stderr := filepath.Join(t.TempDir(), "stderr")
			logf, err := os.Create(stderr)
			if err != nil {
				t.Fatal(err)
			}
			defer logf.Close()
			cmd.Stderr = logf
			var writes, ioctls int
			for _, c := range syscount.Run(t, cmd, "write", "writev", "pwrite64", "ioctl") {
				switch {
				case c.Name == "ioctl":
					ioctls++
				case strings.HasPrefix(c.File, "pipe:"):
					writes++
				}
			}
			if tc.lines > 0 {
				if got := strings.Count(out.String(), "\n"); got != tc.lines {
					t.Fatalf("list printed %d lines, want %d:\n%.2000s", got, tc.lines, out.String())
				}
			} else {
				var entries []snapshot.Entry
				if err := json.Unmarshal(out.Bytes(), &entries); err != nil || len(entries) != n {
					t.Fatalf("list --json: %d entries, %v; want %d", len(entries), err, n)
				}
			}
			if writes > maxWrites || writes == 0 {
				t.Errorf("list of %d snapshots: %d writes to its stdout pipe, want 1 to %d", n, writes, maxWrites)
			}
			if ioctls > maxIoctls || ioctls == 0 {
				t.Errorf("list of %d snapshots: %d ioctls, want 1 to %d", n, ioctls, maxIoctls)
			}
			b, err := os.ReadFile(stderr)
			if err != nil {
				t.Fatal(err)
			}
			gcs := 0
			for line := range strings.Lines(string(b)) {
				if strings.HasPrefix(line, "gc ") {
					gcs++
				}
			}
			if gcs != 0 {
				t.Errorf("list of %d snapshots: %d garbage collections, want none:\n%s", n, gcs, b)
			}
			t.Logf("%d writes, %d ioctls, %d garbage collections", writes, ioctls, gcs)
		})
	}
	t.Run("allocations", func(t *testing.T) {
		env := job.Env{Stdout: io.Discard, Stderr: io.Discard, Root: t.TempDir(), Journal: func() bool { return false }}
		args := []string{"list", "--default", "--mount", l.FS.Mount}
		list := func() {
			if code := snapshot.Run(context.Background(), args, env); code != 0 {
				t.Fatalf("list: exit %d", code)
			}
		}
		list() // the first run's one-time allocations (time zone, ...) are not the listing's
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		list()
		runtime.ReadMemStats(&after)
		allocs, bytes := after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc
		// The run parses the built-in configuration (--default) once: its
		// allocations grow with the configuration's keys, not with the
		// listing, so they are measured apart and not counted against it.
		cfg := uint64(testing.AllocsPerRun(3, func() { config.Default() }))
		allocs -= min(allocs, cfg)
		if allocs > n-1+maxAllocs || bytes > maxBytes {
			t.Errorf("list of %d snapshots (%d with a warning): %d allocations besides the configuration's %d, %d bytes; want at most %d and %d",
				n, n-1, allocs, cfg, bytes, n-1+maxAllocs, maxBytes)
		}
		t.Logf("%d allocations besides the configuration's %d, %d bytes", allocs, cfg, bytes)
	})
}
