package jobtest_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// stopWithin is how soon after SIGTERM every job must have ended: Main's
// grace for a run blocked where it cannot notice the signal, plus a margin.
const stopWithin = 4500 * time.Millisecond

// TestJobProcess is the helper process of the signal tests: job.Main of the
// job JOBTEST_JOB, every host path beneath JOBTEST_ROOT, the arguments
// after "--".
func TestJobProcess(t *testing.T) {
	program := os.Getenv("JOBTEST_JOB")
	if program == "" {
		t.Skip("helper process of TestSIGTERMAtRandomPoints and TestSIGTERMWhileBlocked")
	}
	i := slices.Index(os.Args, "--")
	os.Args = append([]string{program}, os.Args[i+1:]...)
	for _, j := range jobs {
		if j.program == program {
			run := j.run
			job.Main(func(ctx context.Context, args []string, env job.Env) int {
				env.Root, env.Journal = os.Getenv("JOBTEST_ROOT"), func() bool { return false }
				// Main handles the signals from here on (before, a
				// signal ends the process, which has done nothing yet).
				fmt.Fprintln(os.Stderr, running)
				return run(ctx, args, env)
			})
		}
	}
	t.Fatalf("no job %s", program)
}

// running is what the helper process prints once Main handles the signals.
const running = "jobtest: running"

// proc is a job running in a helper process.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   strings.Builder // stdout and stderr, as they come
	lines chan string
	done  chan error
}

func start(t *testing.T, program, root string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestJobProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "JOBTEST_JOB="+program, "JOBTEST_ROOT="+root)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	p := &proc{cmd: cmd, lines: make(chan string, 1000), done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		<-read
		p.done <- err
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	p.waitFor(t, running)
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the process printed a line containing s.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within 10s:\n%s", s, p.output())
		}
	}
}

// stop sends SIGTERM and returns the exit code and how long the process
// took to end (it is killed after 10s).
func (p *proc) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, time.Since(t0)
		case errors.As(err, &ee) && ee.ExitCode() >= 0:
			return ee.ExitCode(), time.Since(t0)
		}
		t.Fatalf("helper process: %v\n%s", err, p.output())
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("still running 10s after SIGTERM:\n%s", p.output())
	}
	return 0, 0
}

// signalled is one job on its own filesystem with what a run needs.
type signalled struct {
	program, record string
	l               *jobtest.Layout
	args            []string
	prepare         func(t *testing.T) // before each run
	// refused, when set, is the other failure a run may end with instead
	// of the stop (a FIFO refused at once).
	refused string
}

// said reports whether text says the run was stopped (or refused).
func (sg *signalled) said(text string) bool {
	return strings.Contains(text, "stopped by SIGTERM") || (sg.refused != "" && strings.Contains(text, sg.refused))
}

func setUp(t *testing.T, program, record string) *signalled {
	l := jobtest.New(t)
	hostFiles(t, l.Env.Root)
	sg := &signalled{program: program, record: record, l: l, prepare: func(*testing.T) {}}
	// Through a private mount of the device, as the units run them.
	base := []string{"--default", "--device", l.FS.Device}
	switch program {
	case "impermanence-restore":
		if code := snapshot.Run(context.Background(), l.Args("--label", "base", "@persist"), l.Env); code != 0 {
			t.Fatalf("snapshot: %d\n%s", code, l.Err)
		}
		entries, _ := os.ReadDir(filepath.Join(l.FS.Mount, "@snapshots/@persist"))
		sg.args = append(base, "--from", entries[0].Name(), "@persist")
	case "impermanence-provision":
		sg.args = append(base, "--blank-from", "@root", "--replace-blank")
	case "impermanence-snapshot":
		n := 0
		sg.prepare = func(*testing.T) { n++; sg.args = append(slices.Clip(base), "--label", fmt.Sprint("run", n)) }
	case "impermanence-prune":
		from := time.Now().Add(-24 * time.Hour)
		sg.args = append(base, "--timezone", "UTC")
		sg.prepare = func(t *testing.T) { jobtest.OldSnapshots(t, l.FS.Mount, "@var-log", &from, 150) }
	default:
		sg.args = base
	}
	return sg
}

func openFS(t *testing.T, l *jobtest.Layout) *btrfs.FS {
	t.Helper()
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

// check asserts what every stop must leave: a readable record (success,
// or a failure that says it was stopped), no mount beneath the test's root,
// every snapshot read-only.
func (sg *signalled) check(t *testing.T, what string, code int, out string) {
	t.Helper()
	if code != 0 && !sg.said(out) {
		t.Errorf("%s: exit %d without saying it was stopped:\n%s", what, code, out)
	}
	if code != 0 && code != 1 {
		t.Errorf("%s: exit %d, want 0 or 1", what, code)
	}
	for _, line := range jobtest.DescriptorPaths(out) {
		t.Errorf("%s: names a descriptor's path (not <device>:/...): %s", what, line)
	}
	if sg.record != "" {
		dir := sg.l.Env.StateDir()
		if sg.program == "impermanence-rollback" {
			dir = sg.l.Env.RunDir()
		}
		r, err := state.Read(dir, sg.record)
		switch {
		case errors.Is(err, os.ErrNotExist) && code == 0:
			t.Errorf("%s: exit 0 and no record", what)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s: record: %v", what, err)
		case err == nil && r.Result != state.ResultSuccess && !sg.said(r.Error):
			t.Errorf("%s: record %s: %s; want success or stopped", what, r.Result, r.Error)
		case err == nil && len(jobtest.DescriptorPaths(r.Error+"\n"+string(r.Details))) > 0:
			t.Errorf("%s: the record names a descriptor's path: %s %s", what, r.Error, r.Details)
		}
	}
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if strings.HasPrefix(m.Mountpoint, sg.l.Env.Root+"/") {
			t.Errorf("%s: left a mount at %s", what, m.Mountpoint)
		}
	}
	for _, p := range jobtest.WritableSnapshots(t, sg.l.FS.Mount) {
		t.Errorf("%s: writable snapshot %s", what, p)
	}
}

// TestSIGTERMAtRandomPoints sends SIGTERM at a random moment of each job's
// run (the delay drawn up to a little more than an unsignalled run takes,
// so that start, configuration, mount, lock, work and record are all
// hit): it ends within stopWithin, says it was stopped when it was, leaves
// a consistent state, and the next run succeeds.
func TestSIGTERMAtRandomPoints(t *testing.T) {
	const runs = 5
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	for _, j := range jobs {
		t.Run(j.program, func(t *testing.T) {
			sg := setUp(t, j.program, j.record)
			sg.prepare(t)
			p := start(t, j.program, sg.l.Env.Root, sg.args...)
			t0 := time.Now()
			if err := <-p.done; err != nil {
				t.Fatalf("unsignalled run: %v\n%s", err, p.output())
			}
			took := time.Since(t0)
			t.Logf("an unsignalled run takes %s", took)
			stopped := 0
			for i := range runs {
				sg.prepare(t)
				delay := time.Duration(rnd.Int64N(int64(took * 5 / 4)))
				p := start(t, j.program, sg.l.Env.Root, sg.args...)
				time.Sleep(delay)
				code, after := p.stop(t)
				out := p.output()
				what := fmt.Sprintf("run %d, SIGTERM after %s", i, delay)
				if code != 0 {
					stopped++
				}
				t.Logf("%s: exit %d, ended %s later", what, code, after.Round(time.Millisecond))
				if after > stopWithin {
					t.Errorf("%s: ended %s after SIGTERM, want within %s", what, after, stopWithin)
				}
				sg.check(t, what, code, out)
			}
			t.Logf("%d of %d runs stopped before they finished", stopped, runs)
			sg.prepare(t)
			next := start(t, j.program, sg.l.Env.Root, sg.args...)
			if err := <-next.done; err != nil {
				t.Errorf("the run after the stops: %v\n%s", err, next.output())
			}
			sg.check(t, "the run after the stops", 0, next.output())
		})
	}
}

// TestSIGTERMWhileBlocked: a job stopped while it waits for the lock ends
// at once and records the stop; one given a FIFO as its audit log or its
// configuration either refuses it at once (internal/safefile) or, were it
// blocked opening it, ends within stopWithin saying it was stopped
// (job.TestMainForcedStop covers that path on its own); either way it
// records the failure and leaves no private mount.
func TestSIGTERMWhileBlocked(t *testing.T) {
	t.Run("lock", func(t *testing.T) {
		for _, j := range jobs {
			sg := setUp(t, j.program, j.record)
			sg.prepare(t)
			fsys := openFS(t, sg.l)
			held, err := lock.Acquire(context.Background(), sg.l.Env.LockDir(), fsys.FSID().String(), "test", 0, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			p := start(t, j.program, sg.l.Env.Root, sg.args...)
			p.waitFor(t, "waiting for the filesystem lock")
			code, after := p.stop(t)
			held.Release()
			out := p.output()
			if code != 1 || after > time.Second || !strings.Contains(out, "stopped by SIGTERM") {
				t.Errorf("%s stopped waiting for the lock: exit %d after %s\n%s", j.program, code, after, out)
			}
			sg.check(t, j.program+" stopped waiting for the lock", code, out)
		}
	})
	for _, tc := range []struct {
		name string
		fifo func(sg *signalled) (string, []string) // the FIFO and the arguments
	}{
		{"audit log", func(sg *signalled) (string, []string) { return sg.l.Env.AuditPath(), sg.args }},
		{"configuration", func(sg *signalled) (string, []string) {
			p := filepath.Join(sg.l.Env.Root, "config.toml")
			return p, append([]string{"--config", p}, slices.DeleteFunc(slices.Clone(sg.args), func(a string) bool { return a == "--default" })...)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sg := setUp(t, "impermanence-snapshot", "snapshot")
			sg.refused = "is a FIFO, not a regular file: refused"
			sg.prepare(t)
			fifo, args := tc.fifo(sg)
			os.MkdirAll(filepath.Dir(fifo), 0o755)
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			p := start(t, sg.program, sg.l.Env.Root, args...)
			time.Sleep(500 * time.Millisecond)
			code, after := p.stop(t)
			out := p.output()
			t.Logf("exit %d, ended %s after SIGTERM:\n%s", code, after, out)
			if after > stopWithin {
				t.Errorf("ended %s after SIGTERM, want within %s", after, stopWithin)
			}
			sg.check(t, "blocked on a FIFO", code, out)
			if code != 0 {
				r, err := state.Read(sg.l.Env.StateDir(), "snapshot")
				if err != nil || r.Result != state.ResultFailure || !sg.said(r.Error) {
					t.Errorf("record %+v, %v; want the stop or the refusal", r, err)
				}
			}
		})
	}
}
