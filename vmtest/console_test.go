package vmtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// TestKernelFailureCaptured: serial consoles captured from the tier's
// guests (testdata/console/*.txt, with the host's time stamps), each with
// its golden list of crash reports (*.want): an Oops in int3 and a run of
// BUG/invalid opcode reports (Debian 13's kernel under multi-threaded TCG,
// provoked by switching the function tracer on and off while cgroups come
// and go), a panic without a root file system (rdinit= naming no program,
// Debian 12 and 13), and clean boots of the stock scenario, which report
// nothing.
func TestKernelFailureCaptured(t *testing.T) {
	files, err := filepath.Glob("testdata/console/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured consoles: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(kernelFailure(string(text)), "\n")
			if got != "" {
				got += "\n"
			}
			golden := strings.TrimSuffix(f, ".txt") + ".want"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("crash reports (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKernelFailureLines: one line each, in the forms the kernels print
// (6.1 without "Oops: " before the trap name, 6.12 with it), on the console
// after a printk time stamp or in the journal after "kernel: ".
func TestKernelFailureLines(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       []string
	}{
		{"6.12 int3", "[  86.44] vmtest login: [   84.419973] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI", []string{"Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"}},
		{"6.1 int3", "[   58.997439] int3: 0000 [#1] PREEMPT SMP NOPTI", []string{"int3: 0000 [#1] PREEMPT SMP NOPTI"}},
		{"6.1 page fault", "[    5.100000] Oops: 0002 [#1] SMP NOPTI", []string{"Oops: 0002 [#1] SMP NOPTI"}},
		{"6.1 gpf", "[    5.100000] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#2] SMP NOPTI", []string{"general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#2] SMP NOPTI"}},
		{"journal", "[   12.345678] vmtest kernel: BUG: kernel NULL pointer dereference, address: 0000000000000008", []string{"BUG: kernel NULL pointer dereference, address: 0000000000000008"}},
		{"BUG_ON", "[   39.900391] kernel BUG at kernel/entry/common.c:378!", []string{"kernel BUG at kernel/entry/common.c:378!"}},
		{"panic", "[   10.186338] Kernel panic - not syncing: Fatal exception", []string{"Kernel panic - not syncing: Fatal exception"}},
		{"crlf", "[   10.186338] Kernel panic - not syncing: Fatal exception\r", []string{"Kernel panic - not syncing: Fatal exception"}},
		{"soft lockup", "[   30.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [kworker/1:1:40]", nil},
		{"workqueue lockup", "[   30.000000] BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 31s!", nil},
		{"systemd status line", "[  OK  ] Finished server-impermanence-setup.service - Roll back: 0000 [#1]", nil},
		{"scenario text", "FAIL s1.rollback-result: got 'BUG: x', want 'success'", nil},
		{"no time stamp", "Kernel panic - not syncing: not from the kernel", []string{"Kernel panic - not syncing: not from the kernel"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, kernelFailure(c.line)); diff != "" {
				t.Errorf("kernelFailure(%q) (-want +got):\n%s", c.line, diff)
			}
		})
	}
}

func TestCrashSummary(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"Oops: int3: 0000 [#1] PREEMPT SMP NOPTI", "Kernel panic - not syncing: Fatal exception in interrupt"},
			"Oops: int3: 0000 [#1] PREEMPT SMP NOPTI / Kernel panic - not syncing: Fatal exception in interrupt"},
		{[]string{"a", "a", "a", "b"}, "a / b (4 reports)"},
		{[]string{"a", "b", "c", "d", "e"}, "a / b / c (+2 more kinds)"},
	} {
		if got := crashSummary(c.in); got != c.want {
			t.Errorf("crashSummary(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
