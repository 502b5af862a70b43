package adversarial_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// stopWithin is how soon after SIGTERM every binary must have ended: the
// job shell's grace for a run blocked where it cannot notice the signal
// (3 s), plus a margin.
const stopWithin = 4500 * time.Millisecond

// signalsPerJob is how many runs of each binary get SIGTERM, and as many
// SIGKILL, at random points.
const signalsPerJob = 4

// stopRig is the source filesystem (the default layout, provisioned),
// a second btrfs holding the [[target]] directory, a configuration with
// both and the sandbox every binary runs in.
type stopRig struct {
	sb      *sandbox
	src     *jobtest.Layout
	dst     *btrfstest.FS
	target  string // the [[target]]'s directory
	config  string
	textDir string // [exporter].textfile_dir, a host path of the sandbox
	runs    int    // the runs so far (labels of snapshots)
	prep1   string // the name of the first snapshot of @persist
	from    time.Time
}

const textfileDir = "/var/lib/adversarial-textfile"

func newStopRig(t *testing.T) *stopRig {
	t.Helper()
	r := &stopRig{sb: newSandbox(t), src: jobtest.New(t), dst: btrfstest.New(t), from: time.Now().Add(-24 * time.Hour)}
	r.target = filepath.Join(r.dst.Mount, "web1")
	must(t, os.Mkdir(r.target, 0o755))
	r.textDir = r.sb.host(textfileDir)
	def := string(config.DefaultTOML())
	cfg := strings.NewReplacer(
		`device = "/dev/disk/by-label/server"`, fmt.Sprintf("device = %q", r.src.FS.Device),
		`textfile_dir = "/var/lib/prometheus/node-exporter"`, fmt.Sprintf("textfile_dir = %q", textfileDir),
	).Replace(def)
	if strings.Count(cfg, r.src.FS.Device) != 1 || !strings.Contains(cfg, textfileDir) {
		t.Fatal("default.toml's device or textfile_dir line changed: adapt the test")
	}
	cfg += fmt.Sprintf("\n[[target]]\nname = \"usb\"\nurl = %q\nsubvolumes = [\"@persist\"]\nretention = { keep_min = 2 }\n", r.target)
	r.config = filepath.Join(t.TempDir(), "config.toml")
	must(t, os.WriteFile(r.config, []byte(cfg), 0o644))
	r.write(t, "data", 16) // to snapshot, send, scrub and measure
	return r
}

// write replaces @persist/<dir> with n files of 256 KiB that do not
// compress.
func (r *stopRig) write(t *testing.T, dir string, n int) {
	t.Helper()
	data := filepath.Join(r.src.FS.Mount, "@persist", dir)
	must(t, os.RemoveAll(data))
	must(t, os.MkdirAll(data, 0o755))
	rnd := rand.New(rand.NewPCG(uint64(r.runs), 2))
	b := make([]byte, 256<<10)
	for i := range n {
		for j := range b {
			b[j] = byte(rnd.Uint32())
		}
		must(t, os.WriteFile(filepath.Join(data, fmt.Sprint(i)), b, 0o644))
	}
}

// snapshot takes a labelled snapshot of @persist with the built binary.
func (r *stopRig) snapshot(t *testing.T) {
	t.Helper()
	r.runs++
	if res := r.sb.run(t, "impermanence-snapshot", "--config", r.config, "--label", fmt.Sprint("prep", r.runs), "@persist"); res.code != 0 {
		t.Fatalf("snapshot: exit %d\n%s", res.code, res.stderr)
	}
}

// stopJob is one binary the category stops and kills.
type stopJob struct {
	program string
	// record is its state record in the state directory (rollback: the
	// run directory); "" for none.
	record  string
	args    func(r *stopRig) []string
	prepare func(t *testing.T, r *stopRig) // before each run
}

func stopJobs() []stopJob {
	cfg := func(r *stopRig, args ...string) []string { return append([]string{"--config", r.config}, args...) }
	nothing := func(*testing.T, *stopRig) {}
	return []stopJob{
		{"impermanence-snapshot", "snapshot", func(r *stopRig) []string {
			return cfg(r, "--label", fmt.Sprint("run", r.runs))
		}, func(_ *testing.T, r *stopRig) { r.runs++ }},
		{"impermanence-prune", "cleanup", func(r *stopRig) []string { return cfg(r, "--timezone", "UTC") },
			func(t *testing.T, r *stopRig) { jobtest.OldSnapshots(t, r.src.FS.Mount, "@var-log", &r.from, 100) }},
		{"impermanence-maintain", "maintenance", func(r *stopRig) []string { return cfg(r) }, nothing},
		{"impermanence-restore", "restore", func(r *stopRig) []string {
			return cfg(r, "--from", r.prep1, "@persist")
		}, nothing},
		{"impermanence-rollback", "rollback", func(r *stopRig) []string { return cfg(r) }, nothing},
		{"impermanence-provision", "", func(r *stopRig) []string {
			return cfg(r, "--blank-from", "@root", "--replace-blank")
		}, nothing},
		{"impermanence-send", "send", func(r *stopRig) []string { return cfg(r) }, func(t *testing.T, r *stopRig) {
			r.write(t, "send", 4)
			r.snapshot(t)
		}},
		{"impermanence-exporter", "", func(r *stopRig) []string {
			return cfg(r, "--no-systemd", "--textfile")
		}, nothing},
	}
}

// started is a binary running in the sandbox: its process (unshare, then
// sh, then the binary: one pid), and the mount namespace it runs in.
type started struct {
	cmd      *exec.Cmd
	out      bytes.Buffer // stdout and stderr
	done     chan error
	mntns    string
	execedAt time.Time
}

// start runs program and returns once the binary itself runs (the pid's
// executable is it), so that a delay counts from there.
func (r *stopRig) start(t *testing.T, program string, args ...string) *started {
	t.Helper()
	p := &started{cmd: r.sb.command(context.Background(), program, args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	must(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	pid := p.cmd.Process.Pid
	want := filepath.Join(bin, program)
	deadline := time.Now().Add(10 * time.Second)
	for {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if exe == want {
			p.execedAt = time.Now()
			p.mntns, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("%s ended before it ran: %v\n%s", program, err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not running 10s after its start", program)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// wait waits for the end (killing it after limit) and returns how it ended:
// the exit code, or -signal.
func (p *started) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -int(ws.Signal())
			}
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("still running %s after the signal:\n%s", limit, p.out.String())
	}
	return -1
}

// holders lists the processes still in mount namespace ns that the run
// started (a child the killed binary left, which would keep its private
// mounts alive). The test process is their subreaper (see
// TestSIGTERMAndSIGKILL), so an orphan's parent is the test: a namespace
// of another process that reuses the number (the kernel reuses them at
// once) is not counted.
func holders(ns string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
	for _, p := range procs {
		if l, _ := os.Readlink(p); l != ns {
			continue
		}
		pid := strings.Split(p, "/")[2]
		stat, _ := os.ReadFile("/proc/" + pid + "/stat")
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != fmt.Sprint(os.Getpid()) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		out = append(out, pid+" "+strings.TrimSpace(string(comm)))
	}
	return out
}

// tempName matches what a writer of the suite leaves while it writes: the
// temporaries of internal/safefile (.<name>.tmp-<digits>) and of older
// versions' textfile writer (.server_impermanence.prom<digits>).
var tempName = regexp.MustCompile(`^\..*(\.tmp-[0-9]+|\.prom[0-9]+)$`)

// leftovers lists what a run left that a finished run does not: the
// temporaries in every directory the suite writes (the sandbox's /run,
// /var/lib, /var/log with the textfile directory, the target directory),
// partial transfers in the target's .incoming, subvolumes being built
// (S.new, S.provisioning, S.restore) in the source's top level, and
// writable or unreceived subvolumes where finished ones go.
func (r *stopRig) leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{r.sb.dir, r.target} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && tempName.MatchString(d.Name()) {
				out = append(out, "temporary "+p)
			}
			return nil
		})
	}
	in, _ := os.ReadDir(filepath.Join(r.target, ".incoming"))
	for _, sv := range in {
		entries, _ := os.ReadDir(filepath.Join(r.target, ".incoming", sv.Name()))
		for _, e := range entries {
			out = append(out, "partial transfer .incoming/"+sv.Name()+"/"+e.Name())
		}
	}
	top, _ := os.ReadDir(r.src.FS.Mount)
	for _, e := range top {
		for _, suffix := range []string{names.NewSuffix, names.ProvisioningSuffix, names.RestoreSuffix} {
			if strings.HasSuffix(e.Name(), suffix) {
				out = append(out, "subvolume being built "+e.Name())
			}
		}
	}
	for _, p := range jobtest.WritableSnapshots(t, r.src.FS.Mount) {
		out = append(out, "writable snapshot "+p)
	}
	svs, _ := os.ReadDir(r.target)
	for _, sv := range svs {
		if sv.Name() == ".incoming" || !sv.IsDir() {
			continue
		}
		entries, _ := os.ReadDir(filepath.Join(r.target, sv.Name()))
		for _, e := range entries {
			p := filepath.Join(r.target, sv.Name(), e.Name())
			d, err := btrfs.OpenDir(p)
			if err != nil {
				out = append(out, fmt.Sprintf("target %s: %v", p, err))
				continue
			}
			info, err := d.Info()
			d.Close()
			switch {
			case err != nil:
				out = append(out, fmt.Sprintf("target %s: %v", p, err))
			case !info.ReadOnly || info.ReceivedUUID.IsZero():
				out = append(out, fmt.Sprintf("target %s: read-only %t, received UUID %s: passes for a finished transfer", p, info.ReadOnly, info.ReceivedUUID))
			}
		}
	}
	return out
}

// stopped is what a run stopped by SIGTERM says (the job shell's words).
const stoppedBy = "stopped by SIGTERM"

// TestSIGTERMAndSIGKILL stops (SIGTERM) and kills (SIGKILL) every job
// binary at random points of its run on a real loop-backed btrfs, the
// delay drawn up to a little more than an unsignalled run takes (counted
// from the exec of the binary): after SIGTERM it ends within stopWithin,
// with exit 0 (it had finished) or 1 and a log line saying it was stopped,
// and its record says success or the stop; after either no process is left
// in its mount namespace, the mounts of both filesystems are as before,
// no temporary file is left, no snapshot, archive or received subvolume
// that passes for finished is partial; a SIGTERM leaves nothing being
// built either. The run after the signals succeeds and leaves nothing of
// theirs. The seed is printed; IMPERMANENCE_SIGNAL_SEED repeats a run.
func TestSIGTERMAndSIGKILL(t *testing.T) {
	need(t, true)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IMPERMANENCE_SIGNAL_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (IMPERMANENCE_SIGNAL_SEED=%d repeats it)", seed, seed)
	// The orphans of a killed binary become the test's children (holders).
	must(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
	rnd := rand.New(rand.NewPCG(seed, 3))
	r := newStopRig(t)
	r.snapshot(t) // what restore restores
	entries, err := os.ReadDir(filepath.Join(r.src.FS.Mount, "@snapshots/@persist"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("the first snapshot of @persist: %v %v", entries, err)
	}
	r.prep1 = entries[0].Name()
	mountsBefore := append(jobtest.MountsOf(t, r.src.FS.Device, ""), jobtest.MountsOf(t, r.dst.Device, "")...)
	n := 0
	for _, j := range stopJobs() {
		t.Run(j.program, func(t *testing.T) {
			run := func() *started { j.prepare(t, r); return r.start(t, j.program, j.args(r)...) }
			// Two unsignalled runs: the first may do more (send: the
			// first, full transfer); the second's time bounds the delays.
			var took time.Duration
			for range 2 {
				p := run()
				if code := p.wait(t, runTimeout); code != 0 {
					t.Fatalf("unsignalled run: exit %d\n%s", code, p.out.String())
				}
				took = time.Since(p.execedAt)
			}
			for i := range 2 * signalsPerJob {
				sig := syscall.SIGTERM
				if i%2 == 1 {
					sig = syscall.SIGKILL
				}
				delay := time.Duration(rnd.Int64N(int64(took*5/4) + 1))
				p := run()
				before := r.leftovers(t)
				time.Sleep(delay - time.Since(p.execedAt))
				p.cmd.Process.Signal(sig)
				t0 := time.Now()
				code := p.wait(t, 10*time.Second)
				after := time.Since(t0)
				what := fmt.Sprintf("%s after %s (exit %d, ended %s later)", sig, delay.Round(time.Microsecond), code, after.Round(time.Millisecond))
				t.Log(what)
				n++
				out := p.out.String()
				if sig == syscall.SIGTERM {
					r.checkStop(t, j, what, code, after, out)
				}
				r.checkAfterSignal(t, what, p.mntns, mountsBefore, before, sig == syscall.SIGTERM && code != -int(syscall.SIGTERM))
			}
			p := run()
			if code := p.wait(t, runTimeout); code != 0 {
				t.Errorf("the run after the signals: exit %d\n%s", code, p.out.String())
			}
			if left := append(r.leftovers(t), r.corrupt()...); len(left) > 0 {
				t.Errorf("the run after the signals left:\n%s", strings.Join(left, "\n"))
			}
		})
	}
	count("signals", n)
	t.Logf("%d signals at random points of %d binaries", n, len(stopJobs()))
}

// checkStop: a run given SIGTERM ended in time, finished or said it was
// stopped (its log and its record), or was ended by the signal before the
// binary handled signals, having said nothing.
func (r *stopRig) checkStop(t *testing.T, j stopJob, what string, code int, after time.Duration, out string) {
	t.Helper()
	if after > stopWithin {
		t.Errorf("%s: ended %s after SIGTERM, want within %s", what, after, stopWithin)
	}
	switch {
	case code == 0:
	case code == 1 && strings.Contains(out, stoppedBy):
	case code == -int(syscall.SIGTERM) && out == "":
		return // before Go's runtime handled the signal: nothing done
	default:
		t.Errorf("%s: want exit 0, or 1 saying %q:\n%s", what, stoppedBy, out)
	}
	if j.record == "" {
		return
	}
	dir := r.sb.host("/var/lib/server-impermanence")
	if j.program == "impermanence-rollback" {
		dir = r.sb.host("/run/server-impermanence")
	}
	rec, err := state.Read(dir, j.record)
	switch {
	case err != nil:
		t.Errorf("%s: record %s: %v", what, j.record, err)
	case code == 0 && rec.Result != state.ResultSuccess:
		t.Errorf("%s: exit 0 and record %s: %s", what, rec.Result, rec.Error)
	case code != 0 && !strings.Contains(rec.Error, stoppedBy):
		t.Errorf("%s: record %s: %q, want it to say %q", what, rec.Result, rec.Error, stoppedBy)
	}
}

// checkAfterSignal: nothing of the run is left running, mounted, or
// passing for finished. A stop the binary handled leaves no temporary file
// and no partial transfer it did not find (after SIGKILL, the next run
// removes them); a subvolume being built (S.new, S.provisioning,
// S.restore) is the state a crash between the same two steps leaves, which
// the next run of the job repairs or removes first.
func (r *stopRig) checkAfterSignal(t *testing.T, what, mntns string, mountsBefore, before []string, handled bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for len(holders(mntns)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := holders(mntns); len(h) > 0 {
		t.Errorf("%s: processes left in its mount namespace 2s later: %q", what, h)
	}
	mounts := append(jobtest.MountsOf(t, r.src.FS.Device, ""), jobtest.MountsOf(t, r.dst.Device, "")...)
	if diff := cmp.Diff(mountsBefore, mounts); diff != "" {
		t.Errorf("%s: the mounts of the filesystems changed (-before +after):\n%s", what, diff)
	}
	for _, c := range r.corrupt() {
		t.Errorf("%s: %s", what, c)
	}
	for _, l := range r.leftovers(t) {
		switch {
		case strings.HasPrefix(l, "subvolume being built "):
			t.Logf("%s: left %s", what, l)
		case strings.HasPrefix(l, "partial transfer ") || strings.HasPrefix(l, "temporary "):
			if handled && !slices.Contains(before, l) {
				t.Errorf("%s: stopped, it left %s", what, l)
			}
		default:
			t.Errorf("%s: left %s", what, l)
		}
	}
}

// corrupt lists the records (every *.json of the sandbox: state records,
// the rollback's, the per-target and scrub records, inventories) that are
// not whole JSON, the audit logs' lines that are not, and a textfile that
// does not end its last line: what a kill mid-write would leave if a
// writer wrote in place.
func (r *stopRig) corrupt() []string {
	var out []string
	filepath.WalkDir(r.sb.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || tempName.MatchString(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			out = append(out, err.Error())
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".json") && !json.Valid(b):
			out = append(out, fmt.Sprintf("%s is not whole JSON: %q", p, firstLines(string(b), 1)))
		case strings.Contains(d.Name(), ".jsonl"):
			for i, l := range strings.SplitAfter(string(b), "\n") {
				if l != "" && (!strings.HasSuffix(l, "\n") || !json.Valid([]byte(l))) {
					out = append(out, fmt.Sprintf("%s:%d is not a whole JSON line: %q", p, i+1, l))
				}
			}
		case strings.HasSuffix(p, ".prom") && (len(b) == 0 || b[len(b)-1] != '\n'):
			out = append(out, fmt.Sprintf("%s ends without a newline (%d bytes)", p, len(b)))
		}
		return nil
	})
	return out
}
