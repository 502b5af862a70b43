package generator

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

// checkSections runs --check in root and returns its "Kernel parameters"
// section and its warnings about kernel parameters, root stripped.
func checkSections(t *testing.T, root string) (section []string, warnings []string) {
	t.Helper()
	var out, errs bytes.Buffer
	if code := Run([]string{"--check"}, Env{Root: root, Stdout: &out, Stderr: &errs}); code != 0 {
		t.Fatalf("--check: exit %d\n%s%s", code, out.String(), errs.String())
	}
	text := strings.ReplaceAll(out.String(), root, "")
	_, rest, ok := strings.Cut(text, "\nKernel parameters ")
	if !ok {
		t.Fatalf("--check printed no kernel parameters:\n%s", text)
	}
	block, _, _ := strings.Cut(rest, "\n\n")
	section = strings.Split(block, "\n")
	if _, w, ok := strings.Cut(text, "\nWarnings:\n"); ok {
		for _, l := range strings.Split(strings.TrimSpace(w), "\n") {
			if strings.Contains(l, "sysctl") || strings.Contains(l, "kernel parameters") {
				warnings = append(warnings, strings.TrimSpace(l))
			}
		}
	}
	return section, warnings
}

func writeFile(t *testing.T, root, p, content string) {
	t.Helper()
	p = filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckSysctl: --check prints every kernel parameter the boot applies
// with the file and line it comes from, read from the installed drop-in
// of the configured mode, and warns about each key the running kernel
// lacks (it is skipped at boot, not a failure).
func TestCheckSysctl(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, config.DefaultPath, strings.Replace(string(config.DefaultTOML()), `mode   = "balanced"`, `mode   = "io-optimized"`, 1))
	writeFile(t, root, plan.SysctlFile(config.ModeIOOptimized), "# the mode\nvm.dirty_ratio = 80\n\n; a comment\nvm/swappiness=1\nvm.dirty_writeback_centisecs = 1500\n")
	// This kernel has every key but vm.dirty_writeback_centisecs.
	for _, k := range []string{"kernel/osrelease", "vm/dirty_ratio", "vm/swappiness"} {
		writeFile(t, root, "/proc/sys/"+k, "0\n")
	}
	section, warnings := checkSections(t, root)
	f := plan.SysctlFile(config.ModeIOOptimized)
	want := []string{
		"(" + plan.TuneService + " applies them after systemd-sysctl.service: they win over /etc/sysctl.d/; [sysctl] after the mode's):",
		"  KEY                           VALUE  FROM",
		"  vm.dirty_ratio                80     " + f + ":2",
		"  vm.swappiness                 1      " + f + ":5",
		"  vm.dirty_writeback_centisecs  1500   " + f + ":6",
	}
	if diff := cmp.Diff(want, section); diff != "" {
		t.Errorf("kernel parameters (-want +got):\n%s", diff)
	}
	wantWarn := []string{"- sysctl vm.dirty_writeback_centisecs (" + f + ":6): the running kernel has no such parameter (/proc/sys/vm/dirty_writeback_centisecs): it is skipped at boot"}
	if diff := cmp.Diff(wantWarn, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// Not installed: the section is empty and says why.
	if err := os.Remove(filepath.Join(root, f)); err != nil {
		t.Fatal(err)
	}
	section, warnings = checkSections(t, root)
	if len(section) != 2 {
		t.Errorf("without the drop-in the section lists %q", section)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "- mode io-optimized: open "+f+": ") || !strings.HasSuffix(warnings[0], "its kernel parameters are not applied (is the package installed?)") {
		t.Errorf("without the drop-in: warnings %q", warnings)
	}

	// No /proc/sys (a chroot without it): said once, not per key.
	writeFile(t, root, f, "vm.dirty_ratio = 80\n")
	if err := os.RemoveAll(filepath.Join(root, "proc")); err != nil {
		t.Fatal(err)
	}
	_, warnings = checkSections(t, root)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "- kernel parameters not checked against the running kernel: ") {
		t.Errorf("without /proc/sys: warnings %q", warnings)
	}
}

// TestCheckSysctlGolden pins the whole --check output of a configuration
// with [sysctl] in the main file and a drop-in, over the shipped
// io-optimized drop-in: the effective set with the source of each value
// (the mode's file and line, the configuration's file:line:column and
// what it replaces), and a warning for each key this kernel lacks (a mode
// key and a configuration key), on a host whose /proc/sys has every other
// key.
func TestCheckSysctlGolden(t *testing.T) {
	root := t.TempDir()
	main := strings.Replace(string(config.DefaultTOML()), `mode   = "balanced"`, `mode   = "io-optimized"`, 1)
	main = strings.Replace(main, "[sysctl]\n", "[sysctl]\nvm.swappiness = 10\nnet.core.somaxconn = 1024\n", 1)
	writeFile(t, root, config.DefaultPath, main)
	writeFile(t, root, "/etc/server-impermanence/config.d/50-db.toml",
		"[sysctl]\n\"net/core/somaxconn\" = 4096\nnet.ipv4.ip_local_port_range = [1024, 65000]\nnet.netfilter.nf_conntrack_max = 262144\n")
	shipped, err := os.ReadFile("../../sysctl/io-optimized.conf")
	if err != nil {
		t.Fatal(err)
	}
	f := plan.SysctlFile(config.ModeIOOptimized)
	writeFile(t, root, f, string(shipped))
	entries, err := sysctl.Parse(strings.NewReader(string(shipped)), f)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel lacks vm.dirty_writeback_centisecs and nf_conntrack (no
	// module loaded); it has every other key.
	writeFile(t, root, "/proc/sys/kernel/osrelease", "6.1.0\n")
	keys := []string{"net.core.somaxconn", "net.ipv4.ip_local_port_range"}
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	for _, k := range keys {
		if k != "vm.dirty_writeback_centisecs" {
			writeFile(t, root, "/proc/sys/"+sysctl.ProcPath(k), "0\n")
		}
	}
	writeFile(t, root, "/proc/cmdline", "root=LABEL=server rootflags=subvol=@root,"+strings.Join(plan.FSOptions(config.ModeIOOptimized), ",")+"\n")
	var out, errs bytes.Buffer
	if code := Run([]string{"--check"}, Env{Root: root, Stdout: &out, Stderr: &errs}); code != 0 {
		t.Fatalf("--check: exit %d\n%s%s", code, out.String(), errs.String())
	}
	compareGolden(t, "check-sysctl.golden", strings.ReplaceAll(out.String(), root, ""))
}

// compareGolden compares got with testdata/name, which -update rewrites.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/generator -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("--check (-want +got; -update rewrites %s):\n%s", path, diff)
	}
}
