package maintain_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

func run(t *testing.T, l *jobtest.Layout, args ...string) (maintain.Report, int) {
	t.Helper()
	l.Reset()
	code := maintain.Run(context.Background(), l.Args(append(args, "--json")...), l.Env)
	var rep maintain.Report
	if err := json.Unmarshal([]byte(l.Out.String()), &rep); err != nil {
		t.Fatalf("maintain %v: exit %d, output %v:\n%s\n%s", args, code, err, l.Out, l.Err)
	}
	return rep, code
}

func writeRandom(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func syncFS(t *testing.T, mount string) {
	t.Helper()
	if out, err := exec.Command("btrfs", "filesystem", "sync", mount).CombinedOutput(); err != nil {
		t.Fatalf("btrfs filesystem sync: %v: %s", err, out)
	}
}

func TestMaintainBalanceAndScrub(t *testing.T) {
	l := jobtest.New(t, btrfstest.Size(512<<20))
	dir := filepath.Join(l.FS.Mount, "@persist")
	// A fresh filesystem has nothing to reclaim: balance is skipped.
	rep, code := run(t, l, "--skip-scrub")
	if code != 0 || rep.Balance == nil || len(rep.Balance.Skipped) != 2 || len(rep.Balance.Steps) != 0 {
		t.Errorf("balance of a fresh filesystem: exit %d, %+v; want both types skipped, nothing to reclaim", code, rep.Balance)
	}
	// Fill several data chunks, then empty most of them.
	for i := range 12 {
		writeRandom(t, filepath.Join(dir, fmt.Sprint(i)), 8<<20)
	}
	syncFS(t, l.FS.Mount)
	for i := range 11 {
		os.Remove(filepath.Join(dir, fmt.Sprint(i)))
	}
	syncFS(t, l.FS.Mount)
	rep, code = run(t, l)
	if code != 0 {
		t.Fatalf("maintain: exit %d\n%s", code, l.Err)
	}
	if rep.Balance == nil || rep.Balance.Relocated == 0 {
		t.Errorf("balance relocated nothing: %+v", rep.Balance)
	}
	if rep.Scrub == nil || !rep.Scrub.Done || rep.Scrub.Devices[0].Pass.DataBytesScrubbed < 8<<20 {
		t.Errorf("scrub: %+v, want done with at least 8 MiB of data", rep.Scrub)
	}
	if len(rep.DeviceStats) != 1 {
		t.Errorf("device stats %+v, want one device", rep.DeviceStats)
	}
	for _, j := range []string{"maintenance", "balance", "scrub"} {
		if r, err := state.Read(l.Env.StateDir(), j); err != nil || r.Result != state.ResultSuccess {
			t.Errorf("state %s: %+v, %v", j, r, err)
		}
	}
}

// physical returns the physical offset on the device of the first data
// block of file, through filefrag (btrfs logical address) and
// btrfs-map-logical.
func physical(t *testing.T, file, device string) int64 {
	t.Helper()
	out, err := exec.Command("filefrag", "-v", "-b4096", file).CombinedOutput()
	if err != nil {
		t.Fatalf("filefrag: %v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^\s*0:\s+0\.\.\s*\d+:\s+(\d+)\.\.`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("filefrag output not understood:\n%s", out)
	}
	block, _ := strconv.ParseInt(string(m[1]), 10, 64)
	out, err = exec.Command("btrfs-map-logical", "-l", strconv.FormatInt(block*4096, 10), device).CombinedOutput()
	if err != nil {
		t.Fatalf("btrfs-map-logical: %v: %s", err, out)
	}
	m = regexp.MustCompile(`physical (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("btrfs-map-logical output not understood:\n%s", out)
	}
	p, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return p
}

func TestScrubFindsInjectedCorruption(t *testing.T) {
	l := jobtest.New(t)
	file := filepath.Join(l.FS.Mount, "@persist", "data")
	writeRandom(t, file, 1<<20)
	syncFS(t, l.FS.Mount)
	off := physical(t, file, l.FS.Device)
	img, err := os.OpenFile(l.FS.Image, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	if _, err := img.WriteAt(garbage, off); err != nil {
		t.Fatal(err)
	}
	img.Sync()
	img.Close()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0)
	rep, code := run(t, l, "--skip-balance")
	if code != 1 {
		t.Errorf("maintain on a corrupted filesystem: exit %d, want 1", code)
	}
	if rep.Scrub == nil || rep.Scrub.Devices[0].Pass.CsumErrors == 0 {
		t.Fatalf("scrub did not find the corruption: %+v", rep.Scrub)
	}
	if !strings.Contains(l.Err.String(), "scrub found") || !strings.Contains(l.Err.String(), "could not correct") {
		t.Errorf("no clear message:\n%s", l.Err)
	}
	if rep.DeviceStats[0].CorruptionErrs == 0 {
		t.Errorf("device corruption counter not raised: %+v", rep.DeviceStats)
	}
	r, _ := state.Read(l.Env.StateDir(), "scrub")
	if r.Result != state.ResultFailure || r.Counters["csum_errors"] == 0 {
		t.Errorf("scrub record %+v, want a failure with csum errors", r)
	}
}

// An interrupted scrub resumes where it stopped: throttled through sysfs,
// the first run spends its budget, the second starts at its last offset.
func TestScrubResumes(t *testing.T) {
	l := jobtest.New(t)
	for i := range 4 {
		writeRandom(t, filepath.Join(l.FS.Mount, "@persist", fmt.Sprint(i)), 8<<20)
	}
	syncFS(t, l.FS.Mount)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	speed := filepath.Join(fsys.SysfsDir(), "devinfo/1/scrub_speed_max")
	if err := os.WriteFile(speed, []byte("8388608"), 0); err != nil {
		t.Skipf("cannot throttle scrub: %v", err)
	}
	defer os.WriteFile(speed, []byte("0"), 0)
	start := time.Now()
	rep, code := run(t, l, "--skip-balance", "--scrub-budget", "1s")
	if code != 0 || rep.Scrub == nil || rep.Scrub.Done || rep.Scrub.Devices[0].Progress.LastPhysical == 0 {
		t.Fatalf("first run: exit %d, %+v; want stopped by the budget with a last offset", code, rep.Scrub)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the 1s budget took %s", d)
	}
	first := rep.Scrub.Devices[0]
	os.WriteFile(speed, []byte("0"), 0)
	rep, code = run(t, l, "--skip-balance", "--scrub-budget", "1m")
	d := rep.Scrub.Devices[0]
	if code != 0 || !rep.Scrub.Resumed || d.Start != first.Progress.LastPhysical || !rep.Scrub.Done {
		t.Fatalf("second run: exit %d, %+v; want resumed at %d and done", code, rep.Scrub, first.Progress.LastPhysical)
	}
	if d.Pass.DataBytesScrubbed < 32<<20 || d.Pass.DataBytesScrubbed <= d.Progress.DataBytesScrubbed {
		t.Errorf("pass total %d bytes (this run %d): want the whole 32 MiB over both runs", d.Pass.DataBytesScrubbed, d.Progress.DataBytesScrubbed)
	}
	// The pass is done: the next run starts from the beginning.
	rep, _ = run(t, l, "--skip-balance")
	if rep.Scrub.Resumed || rep.Scrub.Devices[0].Start != 0 {
		t.Errorf("third run resumed: %+v", rep.Scrub)
	}
}

func TestMaintainSkipsDuringExclusiveOperation(t *testing.T) {
	l := jobtest.New(t)
	fsys, err := btrfs.Open(l.FS.Mount)
	if err != nil {
		t.Fatal(err)
	}
	sys := t.TempDir()
	dir := filepath.Join(sys, "fs/btrfs", fsys.FSID().String())
	fsys.Close()
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "exclusive_operation"), []byte("balance\n"), 0o644)
	l.Env.Sysfs = sys
	rep, code := run(t, l)
	if code != 0 || !strings.Contains(rep.Skipped, "another exclusive operation is running (balance)") || rep.Balance != nil || rep.Scrub != nil {
		t.Errorf("exit %d, %+v; want skipped, naming the balance", code, rep)
	}
	if r, _ := state.Read(l.Env.StateDir(), "maintenance"); r.Result != state.ResultSkipped {
		t.Errorf("state %+v, want skipped", r)
	}
}
