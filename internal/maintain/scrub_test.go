package maintain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/scrubpass"
	"github.com/server-impermanence/server-impermanence/internal/state"
	"golang.org/x/sys/unix"
)

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		budget, timeout time.Duration
		finite          bool
		want            time.Duration
	}{
		{4 * time.Hour, 0, false, 4 * time.Hour},                             // no unit timeout
		{4 * time.Hour, 4*time.Hour + 10*time.Minute, true, 4 * time.Hour},   // the shipped unit: fits
		{4 * time.Hour, time.Hour, true, time.Hour - 3*time.Minute},          // a drop-in shortened it
		{4 * time.Hour, 90 * time.Second, true, 80 * time.Second},            // margin at least 10 s
		{4 * time.Hour, 10 * time.Hour, true, 4 * time.Hour},                 // budget shorter anyway
		{4 * time.Hour, 12 * time.Second, true, 6 * time.Second},             // margin at most half
		{4 * time.Hour, 24 * time.Hour, true, 4 * time.Hour},                 //
		{30 * time.Hour, 24 * time.Hour, true, 24*time.Hour - 5*time.Minute}, // margin at most 5 min
	} {
		if got := maintain.Budget(tc.budget, tc.timeout, tc.finite); got != tc.want {
			t.Errorf("Budget(%s, %s, %v) = %s, want %s", tc.budget, tc.timeout, tc.finite, got, tc.want)
		}
	}
}

// throttle limits the scrub of device devid to bps bytes per second (0:
// no limit) until the test ends.
func throttle(t *testing.T, l *jobtest.Layout, devid uint64, bps int) {
	t.Helper()
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	speed := filepath.Join(fsys.SysfsDir(), "devinfo", fmt.Sprint(devid), "scrub_speed_max")
	if err := os.WriteFile(speed, []byte(fmt.Sprint(bps)), 0); err != nil {
		t.Skipf("cannot throttle scrub: %v", err)
	}
	t.Cleanup(func() { os.WriteFile(speed, []byte("0"), 0) })
}

func runWith(t *testing.T, ctx context.Context, l *jobtest.Layout, timeout maintain.UnitTimeout, args ...string) (maintain.Report, int) {
	t.Helper()
	l.Reset()
	code := maintain.RunWith(ctx, l.Args(append(args, "--json")...), l.Env, timeout)
	var rep maintain.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatalf("maintain %v: exit %d, output %v:\n%s\n%s", args, code, err, l.Out, l.Err)
	}
	return rep, code
}

func readPass(t *testing.T, l *jobtest.Layout) scrubpass.Pass {
	t.Helper()
	p, err := scrubpass.Read(l.Env.StateDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func record(t *testing.T, l *jobtest.Layout, job string) state.Record {
	t.Helper()
	r, err := state.Read(l.Env.StateDir(), job)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestScrubInterruptedNeverSuccess: a scrub stopped by its budget or by a
// signal is recorded as interrupted (exit 0, the unit stays green), the
// pass resumes across runs, its progress grows, and only the run that
// completes the pass is a success with the time of the last full pass.
func TestScrubInterruptedNeverSuccess(t *testing.T) {
	l := jobtest.New(t)
	for i := range 4 {
		writeRandom(t, filepath.Join(l.FS.Mount, "@persist", fmt.Sprint(i)), 8<<20)
	}
	syncFS(t, l.FS.Mount)
	throttle(t, l, 1, 4<<20)

	rep, code := runWith(t, context.Background(), l, nil, "--scrub-only", "--scrub-budget", "1s")
	if code != 0 || rep.Scrub == nil || rep.Scrub.Done || rep.Scrub.Stopped != maintain.StoppedBudget {
		t.Fatalf("budget run: exit %d, %+v; want stopped by the budget", code, rep.Scrub)
	}
	r := record(t, l, "scrub")
	if r.Result != state.ResultInterrupted || !r.LastSuccess.IsZero() || r.Error != "stopped by its budget before the end of the pass; the next run resumes" {
		t.Errorf("budget run record: %q %q, last success %v; want interrupted, never a success", r.Result, r.Error, r.LastSuccess)
	}
	p1 := readPass(t, l)
	if p1.Done() || p1.Runs != 1 || p1.Started.IsZero() || !p1.LastCompleted.IsZero() || p1.Progress() >= 1 || p1.Devices[0].Resume == 0 {
		t.Errorf("pass after the budget run: %+v (progress %v)", p1, p1.Progress())
	}
	for _, j := range []string{"maintenance", "balance"} {
		if _, err := state.Read(l.Env.StateDir(), j); err == nil {
			t.Errorf("--scrub-only wrote the %s record", j)
		}
	}
	// The exporter serves the pass: its progress, its start, no complete
	// pass yet.
	paths := metrics.PathsAt(t.TempDir())
	paths.StateDir = l.Env.StateDir()
	want := fmt.Sprintf(`# HELP impermanence_scrub_pass_progress_ratio Fraction of the current scrub pass done: allocated bytes in dev extents scrubbed to their end over the allocated bytes; 1 once the pass is complete.
# TYPE impermanence_scrub_pass_progress_ratio gauge
impermanence_scrub_pass_progress_ratio %v
# HELP impermanence_scrub_pass_started_timestamp_seconds Start of the first run of the current (or last complete) scrub pass.
# TYPE impermanence_scrub_pass_started_timestamp_seconds gauge
impermanence_scrub_pass_started_timestamp_seconds %v
`, p1.Progress(), float64(p1.Started.UnixNano())/1e9)
	if err := testutil.GatherAndCompare(metrics.NewRegistry(metrics.Options{Paths: paths}), strings.NewReader(want),
		"impermanence_scrub_pass_progress_ratio", "impermanence_scrub_pass_started_timestamp_seconds",
		"impermanence_scrub_last_pass_completed_timestamp_seconds"); err != nil {
		t.Errorf("exporter: %v", err)
	}

	// SIGTERM (systemctl stop, or the unit's timeout): job.Main cancels
	// the context with the signal as its cause.
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(700*time.Millisecond, func() { cancel(fmt.Errorf("%w by SIGTERM", job.ErrStopped)) })
	rep, code = runWith(t, ctx, l, nil, "--scrub-only")
	if code != 0 || rep.Scrub.Done || rep.Scrub.Stopped != maintain.StoppedSignal || !rep.Scrub.Resumed ||
		rep.Scrub.Devices[0].Start != p1.Devices[0].Resume {
		t.Fatalf("signalled run: exit %d, %+v; want resumed at %d, stopped by a signal", code, rep.Scrub, p1.Devices[0].Resume)
	}
	if r := record(t, l, "scrub"); r.Result != state.ResultInterrupted || r.Error != "stopped by SIGTERM before the end of the pass; the next run resumes" {
		t.Errorf("signalled run record: %q %q", r.Result, r.Error)
	}
	p2 := readPass(t, l)
	if p2.Runs != 2 || !p2.Started.Equal(p1.Started) || p2.Progress() < p1.Progress() || p2.Devices[0].Resume < p1.Devices[0].Resume {
		t.Errorf("pass after the signalled run: %+v, progress %v after %v; want the same pass further on", p2, p2.Progress(), p1.Progress())
	}

	throttle(t, l, 1, 0)
	rep, code = runWith(t, context.Background(), l, nil, "--scrub-only")
	if code != 0 || !rep.Scrub.Done || rep.Scrub.Stopped != "" {
		t.Fatalf("last run: exit %d, %+v; want the pass done", code, rep.Scrub)
	}
	r = record(t, l, "scrub")
	p3 := readPass(t, l)
	if r.Result != state.ResultSuccess || !p3.Done() || p3.Progress() != 1 || p3.Runs != 3 || p3.LastCompleted.IsZero() || !p3.Started.Equal(p1.Started) {
		t.Errorf("after the last run: record %q, pass %+v", r.Result, p3)
	}
	// Done: every allocated byte of the device was verified.
	if d := p3.Devices[0]; d.Verified != d.Allocated || d.Allocated < 32<<20 {
		t.Errorf("done pass verified %d of %d allocated bytes", d.Verified, d.Allocated)
	}
	// The next run starts a new pass from the beginning (and completes it).
	rep, _ = runWith(t, context.Background(), l, nil, "--scrub-only")
	if p := readPass(t, l); rep.Scrub.Resumed || rep.Scrub.Devices[0].Start != 0 || p.Started.Before(p3.LastCompleted) || !p.LastCompleted.After(p3.LastCompleted) || p.Runs != 1 || !p.Done() {
		t.Errorf("next pass: %+v, pass %+v", rep.Scrub, p)
	}
}

// TestScrubBudgetFitsTheUnit: under systemd the budget ends a margin before
// the unit's TimeoutStartSec=, whatever --scrub-budget says.
func TestScrubBudgetFitsTheUnit(t *testing.T) {
	l := jobtest.New(t)
	for i := range 4 {
		writeRandom(t, filepath.Join(l.FS.Mount, "@persist", fmt.Sprint(i)), 8<<20)
	}
	syncFS(t, l.FS.Mount)
	throttle(t, l, 1, 2<<20)
	unit := func(context.Context) (string, time.Duration, bool, error) {
		return "server-impermanence-scrub.service", 4 * time.Second, true, nil
	}
	start := time.Now()
	rep, code := runWith(t, context.Background(), l, unit, "--scrub-only", "--scrub-budget", "4h")
	took := time.Since(start)
	if code != 0 || rep.Scrub == nil || rep.Scrub.Budget != 2 || rep.Scrub.Stopped != maintain.StoppedBudget {
		t.Fatalf("exit %d, %+v; want a 2 s budget (4 s timeout, 2 s margin) spent", code, rep.Scrub)
	}
	if took >= 4*time.Second {
		t.Errorf("the run took %s, past what the unit allows", took)
	}
	if want := "scrub budget 2s: 4h0m0s ends 2s before server-impermanence-scrub.service's TimeoutStartSec=4s"; !strings.Contains(l.Err.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, l.Err)
	}
}

// TestScrubOnlyLocks: a scrub holds the scrub lock, not the job lock:
// it runs while another job holds the job lock, and a second scrub is
// skipped without touching the pass.
func TestScrubOnlyLocks(t *testing.T) {
	l := jobtest.New(t)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	fsid := fsys.FSID().String()
	fsys.Close()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	jl, err := lock.Acquire(ctx, l.Env.LockDir(), fsid, "snapshot", 0, log)
	if err != nil {
		t.Fatal(err)
	}
	rep, code := runWith(t, ctx, l, nil, "--scrub-only", "--lock-timeout", "0")
	jl.Release()
	if code != 0 || rep.Scrub == nil || !rep.Scrub.Done {
		t.Fatalf("scrub while the job lock is held: exit %d, %+v\n%s", code, rep.Scrub, l.Err)
	}
	before, err := os.ReadFile(scrubpass.Path(l.Env.StateDir()))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := lock.Acquire(ctx, l.Env.LockDir(), fsid+".scrub", "scrub", 0, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Release()
	rep, code = runWith(t, ctx, l, nil, "--scrub-only")
	if code != 0 || rep.Skipped != "another scrub of this filesystem is running" {
		t.Errorf("second scrub: exit %d, skipped %q", code, rep.Skipped)
	}
	if r := record(t, l, "scrub"); r.Result != state.ResultSkipped {
		t.Errorf("record %+v, want skipped", r)
	}
	if after, _ := os.ReadFile(scrubpass.Path(l.Env.StateDir())); string(after) != string(before) {
		t.Errorf("the skipped scrub changed the pass:\n%s\nwas\n%s", after, before)
	}
}

// TestScrubMultiDevice: a device that reached its end waits for the others
// before the next pass starts it again.
func TestScrubMultiDevice(t *testing.T) {
	l := jobtest.New(t)
	img := filepath.Join(t.TempDir(), "dev2.img")
	if err := exec.Command("truncate", "-s", "1G", img).Run(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	dev2 := strings.TrimSpace(string(out))
	// Detached when the filesystem lets it go (autoclear), after unmount.
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev2).Run() })
	if out, err := exec.Command("btrfs", "device", "add", "-f", dev2, l.FS.Mount).CombinedOutput(); err != nil {
		t.Fatalf("btrfs device add: %v\n%s", err, out)
	}
	for i := range 4 {
		writeRandom(t, filepath.Join(l.FS.Mount, "@persist", fmt.Sprint(i)), 8<<20)
	}
	syncFS(t, l.FS.Mount)
	throttle(t, l, 2, 2<<20)
	rep, _ := runWith(t, context.Background(), l, nil, "--scrub-only", "--scrub-budget", "1s")
	if len(rep.Scrub.Devices) != 2 || !rep.Scrub.Devices[0].Done || rep.Scrub.Devices[1].Done {
		t.Fatalf("first run: %+v; want device 1 done, device 2 stopped", rep.Scrub)
	}
	first := rep.Scrub.Devices[0].Pass
	rep, _ = runWith(t, context.Background(), l, nil, "--scrub-only", "--scrub-budget", "1s")
	d1, d2 := rep.Scrub.Devices[0], rep.Scrub.Devices[1]
	if !d1.Skipped || d1.Progress.DataBytesScrubbed+d1.Progress.TreeBytesScrubbed != 0 || d1.Pass != first || d2.Start == 0 || rep.Scrub.Done {
		t.Errorf("second run: %+v; want device 1 left alone, device 2 resumed", rep.Scrub)
	}
	throttle(t, l, 2, 0)
	rep, _ = runWith(t, context.Background(), l, nil, "--scrub-only")
	if !rep.Scrub.Done || !rep.Scrub.Devices[0].Skipped {
		t.Errorf("third run: %+v; want the pass done by device 2", rep.Scrub)
	}
	rep, _ = runWith(t, context.Background(), l, nil, "--scrub-only")
	if rep.Scrub.Devices[0].Skipped || rep.Scrub.Devices[0].Start != 0 || rep.Scrub.Devices[1].Start != 0 || !rep.Scrub.Done {
		t.Errorf("new pass: %+v; want both devices from 0", rep.Scrub)
	}
}

func TestUnitFromCgroup(t *testing.T) {
	for _, tc := range []struct{ cgroup, want string }{
		{"0::/system.slice/server-impermanence-scrub.service\n", "server-impermanence-scrub.service"},
		{"12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/server-impermanence-scrub.service\n0::/system.slice/server-impermanence-scrub.service\n", "server-impermanence-scrub.service"},
		{"1:name=systemd:/system.slice/btrfs-maintenance.service\n", "btrfs-maintenance.service"},
		{"0::/user.slice/user-0.slice/session-3.scope\n", ""},
		{"", ""},
	} {
		got, err := maintain.UnitFromCgroup(tc.cgroup)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("UnitFromCgroup(%q) = %q, %v; want %q", tc.cgroup, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in     string
		d      time.Duration
		finite bool
	}{
		{"4h 10min", 4*time.Hour + 10*time.Minute, true},
		{"5min", 5 * time.Minute, true},
		{"1min 30s", 90 * time.Second, true},
		{"infinity", 0, false},
		{"0", 0, false},
	} {
		d, finite, err := maintain.ParseTimeout(tc.in)
		if err != nil || d != tc.d || finite != tc.finite {
			t.Errorf("ParseTimeout(%q) = %v, %v, %v; want %v, %v", tc.in, d, finite, err, tc.d, tc.finite)
		}
	}
	if _, _, err := maintain.ParseTimeout("soon"); err == nil {
		t.Error(`ParseTimeout("soon"): no error`)
	}
}

// TestScrubOnlyReadOnly: a repairing scrub on a read-only filesystem fails
// saying so and records it; a read-only scrub still verifies.
func TestScrubOnlyReadOnly(t *testing.T) {
	l := jobtest.New(t)
	if err := unix.Mount("", l.FS.Mount, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	t.Cleanup(func() { unix.Mount("", l.FS.Mount, "", unix.MS_REMOUNT, "") })
	code := maintain.RunWith(context.Background(), l.Args("--scrub-only"), l.Env, nil)
	msg := fmt.Sprintf("%s is read-only (the mount or the filesystem: btrfs turns a filesystem read-only after an error, see the kernel log): impermanence-maintain changes nothing there; remount it read-write", l.FS.Mount)
	if first, _, _ := strings.Cut(l.Err.String(), "\n"); code != 1 || first != "impermanence-maintain: "+msg {
		t.Errorf("exit %d, stderr\n%s\nwant exit 1 and %q", code, l.Err, msg)
	}
	if r := record(t, l, "scrub"); r.Result != state.ResultFailure || r.Error != msg {
		t.Errorf("record %+v, want the failure", r)
	}
	rep, code := runWith(t, context.Background(), l, nil, "--scrub-only", "--read-only-scrub")
	if code != 0 || rep.Scrub == nil || !rep.Scrub.Done {
		t.Errorf("read-only scrub: exit %d, %+v\n%s", code, rep.Scrub, l.Err)
	}
}
