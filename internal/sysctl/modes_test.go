package sysctl_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

// ioBlock and generalBlock are the two kernel-parameter blocks every
// deployment of this suite is specified with: the I/O block for database
// and container servers (mode io-optimized), the general server block in
// every mode. Changing a value here is changing the product's contract;
// docs/performance.md gives each value's reason and risk.
var (
	ioBlock = map[string]string{
		"vm.vfs_cache_pressure":     "50",
		"vm.dirty_ratio":            "80",
		"vm.dirty_background_ratio": "15",
		"vm.swappiness":             "1",
	}
	generalBlock = map[string]string{
		"vm.overcommit_memory":        "1",
		"vm.min_free_kbytes":          "65536",
		"fs.inotify.max_user_watches": "524288",
	}
)

// modeValues is every key each mode's drop-in sets, with its value: the
// blocks above plus the suite's own writeback choices (which the blocks do
// not fix).
var modeValues = map[config.Mode]map[string]string{
	config.ModeBalanced: with(generalBlock, map[string]string{
		"vm.dirty_background_ratio": "5",
		"vm.dirty_ratio":            "20",
		"vm.dirty_expire_centisecs": "1500",
		"vm.vfs_cache_pressure":     "50",
	}),
	config.ModeIOOptimized: with(generalBlock, ioBlock, map[string]string{
		"vm.dirty_expire_centisecs":    "6000",
		"vm.dirty_writeback_centisecs": "1500",
	}),
	config.ModeSpaceOptimized: with(generalBlock, map[string]string{
		"vm.dirty_background_ratio": "5",
		"vm.dirty_ratio":            "10",
		"vm.dirty_expire_centisecs": "1500",
		"vm.vfs_cache_pressure":     "50",
	}),
}

// with merges blocks; a key in two of them must agree (the blocks are
// facts, the merge must not pick one silently).
func with(blocks ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, b := range blocks {
		for k, v := range b {
			if old, ok := out[k]; ok && old != v {
				panic(fmt.Sprintf("%s is %s in one block and %s in another", k, old, v))
			}
			out[k] = v
		}
	}
	return out
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// readMode parses sysctl/<mode>.conf into key → value, refusing a key set
// twice (systemd-sysctl would apply the last one, the table would hide it).
func readMode(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := sysctl.Parse(bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range es {
		if _, dup := got[e.Key]; dup {
			t.Errorf("%s:%d: %s is set a second time", path, e.Line, e.Key)
		}
		if e.IgnoreFailure {
			t.Errorf("%s:%d: %s: a mode's key must exist on every supported kernel, not be ignored with '-'", path, e.Line, e.Key)
		}
		got[e.Key] = e.Value
	}
	return got
}

// TestModeValues pins every value of every mode's drop-in, and that
// sysctl/ holds exactly one drop-in per mode.
func TestModeValues(t *testing.T) {
	root := repoRoot(t)
	for _, m := range config.Modes {
		p := filepath.Join(root, "sysctl", string(m)+".conf")
		if diff := cmp.Diff(modeValues[m], readMode(t, p)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p, diff)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, "sysctl", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	for _, m := range config.Modes {
		want = append(want, string(m)+".conf")
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sysctl/*.conf (-one per mode +present):\n%s", diff)
	}
}

// TestShipped follows the path from the source file to the kernel: make
// install copies sysctl/<mode>.conf to plan.SysctlDir; the generator sets
// the mode in the tune service's environment; the static unit's ExecStart=
// runs systemd-sysctl on the mode's file. That command is run here against
// a private /proc/sys (a tmpfs in a private mount namespace, with an empty
// file for every key any mode sets): the mode's keys must end up with the
// table's values, every other key untouched (empty).
func TestShipped(t *testing.T) {
	root := repoRoot(t)

	// make install: source → destination of each drop-in.
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-s", "--no-print-directory",
		"--eval", `sysctl-test-install-list: ; @printf "%s\n" $(INSTALL_LIST)`, "sysctl-test-install-list", "PREFIX=/usr")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make: the install list: %v", err)
	}
	installed := map[string]string{} // destination → source
	for _, e := range strings.Fields(string(out)) {
		parts := strings.SplitN(e, ":", 3)
		if len(parts) == 3 && strings.HasPrefix(parts[2], plan.SysctlDir+"/") {
			installed[parts[2]] = parts[1]
		}
	}
	wantInstalled := map[string]string{}
	for _, m := range config.Modes {
		wantInstalled[plan.SysctlFile(m)] = "sysctl/" + string(m) + ".conf"
	}
	if diff := cmp.Diff(wantInstalled, installed); diff != "" {
		t.Fatalf("make install: the sysctl drop-ins (-want +got):\n%s", diff)
	}

	// The static tune unit's command.
	unit, err := os.ReadFile(filepath.Join(root, "units", plan.TuneService))
	if err != nil {
		t.Fatal(err)
	}
	var execStart []string
	for _, l := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			if execStart != nil {
				t.Fatalf("%s: more than one ExecStart=", plan.TuneService)
			}
			execStart = strings.Fields(v)
		}
	}
	if len(execStart) != 2 {
		t.Fatalf("%s: ExecStart=%q, want systemd-sysctl and the mode's file", plan.TuneService, execStart)
	}

	var seed []string // every key any mode sets
	for _, m := range config.Modes {
		for k := range modeValues[m] {
			seed = append(seed, k)
		}
	}
	sort.Strings(seed)
	seed = slicesCompact(seed)

	for _, m := range config.Modes {
		t.Run(string(m), func(t *testing.T) {
			env := tuneEnvironment(t, m)
			file := os.Expand(execStart[1], func(k string) string { return env[k] })
			src, ok := installed[file]
			if !ok {
				t.Fatalf("%s runs %s %s (mode %s), which make install does not install", plan.TuneService, execStart[0], file, m)
			}
			if os.Getuid() != 0 {
				t.Skip("applying into a private /proc/sys needs root")
			}
			if _, err := os.Stat(execStart[0]); err != nil {
				t.Skipf("%s: %v", execStart[0], err)
			}
			got := applyPrivately(t, execStart[0], filepath.Join(root, src), seed)
			want := map[string]string{}
			for _, k := range seed {
				want[k] = ""
			}
			for k, v := range modeValues[m] {
				want[k] = v
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %s applied (-want +got):\n%s", execStart[0], file, diff)
			}
		})
	}
}

func slicesCompact(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

var envRE = regexp.MustCompile(`(?m)^Environment=([A-Z_]+)=(.*)$`)

// tuneEnvironment is the environment the generator gives the tune service
// for the default layout in mode m.
func tuneEnvironment(t *testing.T, m config.Mode) map[string]string {
	t.Helper()
	cfg := config.Default()
	cfg.Mode = m
	res, err := plan.Build(cfg, plan.Env{SourcePath: config.DefaultPath})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, f := range res.Files {
		if f.Path == plan.TuneService+".d/"+plan.DropInName {
			for _, sm := range envRE.FindAllStringSubmatch(string(f.Content), -1) {
				env[sm[1]] = sm[2]
			}
		}
	}
	if len(env) == 0 {
		t.Fatalf("the generator's %s drop-in sets no environment", plan.TuneService)
	}
	return env
}

// applyPrivately runs bin file in a private mount namespace whose /proc/sys
// is a tmpfs holding keys (each an empty file: systemd-sysctl does not
// truncate, as /proc/sys needs none), and returns what the keys hold
// afterwards. The machine's own parameters are never written.
func applyPrivately(t *testing.T, bin, file string, keys []string) map[string]string {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\nmount -t tmpfs sysctl-test /proc/sys\n")
	for _, k := range keys {
		p := "/proc/sys/" + sysctl.ProcPath(k)
		fmt.Fprintf(&script, "mkdir -p %s\n: > %s\n", filepath.Dir(p), p)
	}
	fmt.Fprintf(&script, "%s %s\n", bin, file)
	for _, k := range keys {
		fmt.Fprintf(&script, "printf '%%s=%%s\\n' %s \"$(cat /proc/sys/%s)\"\n", k, sysctl.ProcPath(k))
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unshare: %s %s in a private /proc/sys: %v\n%s", bin, file, err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("unexpected output %q in\n%s", l, out)
		}
		got[k] = v
	}
	return got
}
