package generator

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden trees in testdata/cases/*/want")

// A case is a directory in testdata/cases: config.toml (absent: not
// configured), cmdline (the kernel command line), initrd (present: the
// generator runs in the initrd). want/ holds the expected output: the three
// output directories as trees, symlinks.txt ("dir/path -> target"),
// log.txt (kmsg lines) and exit.txt.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/cases/*")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out, code, log := runCase(t, dir)
			got := snapshot(t, out)
			got["log.txt"] = log
			got["exit.txt"] = fmt.Sprintf("%d\n", code)
			want := filepath.Join(dir, "want")
			if *update {
				os.RemoveAll(want)
				for p, c := range got {
					p = filepath.Join(want, p)
					os.MkdirAll(filepath.Dir(p), 0o755)
					if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			compareTrees(t, got, readTree(t, want))
		})
	}
}

// runCase builds a root from the case and runs the generator with three
// output directories. It returns the directory holding normal/early/late.
func runCase(t testing.TB, dir string) (string, int, string) {
	root := t.TempDir()
	mkRoot(t, root, dir)
	out := t.TempDir()
	dirs := []string{filepath.Join(out, "normal"), filepath.Join(out, "early"), filepath.Join(out, "late")}
	for _, d := range dirs {
		os.Mkdir(d, 0o755)
	}
	kmsg := filepath.Join(root, "kmsg")
	os.WriteFile(kmsg, nil, 0o644)
	var stderr bytes.Buffer
	code := Run(dirs, Env{Root: root, Kmsg: kmsg, Stdout: &stderr, Stderr: &stderr})
	log, _ := os.ReadFile(kmsg)
	log = append(log, stderr.Bytes()...)
	// The config path and the pid change from run to run.
	clean := strings.ReplaceAll(string(log), root, "")
	clean = regexp.MustCompile(`\[[0-9]+\]: `).ReplaceAllString(clean, "[PID]: ")
	return out, code, clean
}

func mkRoot(t testing.TB, root, dir string) {
	for _, d := range []string{"etc/server-impermanence", "proc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if c, err := os.ReadFile(filepath.Join(dir, "config.toml")); err == nil {
		os.WriteFile(filepath.Join(root, "etc/server-impermanence/config.toml"), c, 0o644)
	}
	cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil {
		cmdline = []byte("BOOT_IMAGE=/vmlinuz root=LABEL=server ro\n")
	}
	os.WriteFile(filepath.Join(root, "proc/cmdline"), cmdline, 0o644)
	if _, err := os.Stat(filepath.Join(dir, "initrd")); err == nil {
		os.WriteFile(filepath.Join(root, "etc/initrd-release"), []byte("NAME=initrd\n"), 0o644)
	}
}

// snapshot reads an output tree: regular files by path, symlinks in
// symlinks.txt.
func snapshot(t testing.TB, out string) map[string]string {
	got := map[string]string{}
	var links []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(out, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			links = append(links, rel+" -> "+target)
		case d.Type().IsRegular():
			c, _ := os.ReadFile(p)
			got[rel] = string(c)
		}
		return nil
	})
	sort.Strings(links)
	got["symlinks.txt"] = strings.Join(links, "\n") + "\n"
	return got
}

func readTree(t testing.TB, dir string) map[string]string {
	want := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatalf("read golden tree (run with -update): %v", err)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			c, _ := os.ReadFile(p)
			want[rel] = string(c)
		}
		return nil
	})
	return want
}

func compareTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("missing %s", p)
		case g != w:
			t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s:\n%s", p, got[p])
		}
	}
}

// Lines systemd-analyze verify prints for the helpers, which are installed
// separately; every other line fails the test (verify exits 0 on warnings
// such as "Unknown key").
var helperMissing = regexp.MustCompile(`^\S+: Command (/usr/sbin/impermanence-[a-z]+|/usr/lib/systemd/system-generators/server-impermanence-generator|/usr/lib/server-impermanence/grub/refresh-menu) is not executable: No such file or directory$`)

// TestVerify runs systemd-analyze verify on every unit each case emits,
// together with the static units (so the drop-ins apply to them).
func TestVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	static, _ := filepath.Glob("../../units/*.service")
	timers, _ := filepath.Glob("../../units/*.timer")
	static = append(static, timers...)
	cases, _ := filepath.Glob("testdata/cases/*")
	cases = append(cases, "static-only")
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			unitDir := t.TempDir()
			for _, s := range static {
				c, err := os.ReadFile(s)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(unitDir, filepath.Base(s)), c, 0o644)
			}
			var units []string
			if dir != "static-only" {
				out, _, _ := runCase(t, dir)
				// One directory, as systemd would merge them.
				for _, sub := range []string{"normal", "early", "late"} {
					exec.Command("cp", "-a", filepath.Join(out, sub)+"/.", unitDir).Run()
				}
			}
			entries, _ := os.ReadDir(unitDir)
			for _, e := range entries {
				n := e.Name()
				switch {
				case !e.Type().IsRegular() || strings.Contains(n, "@."):
				case strings.Contains(n, ":"):
					// systemd-analyze 252 reads "a:b" in an argument as
					// FILE:ALIAS and fails; the unit is still loaded as a
					// dependency of local-fs.target.
					t.Logf("%s: not passed to systemd-analyze verify (colon in the name)", n)
				default:
					units = append(units, filepath.Join(unitDir, n))
				}
			}
			// The replication timer instances the case enables, with
			// their services: drop-ins apply to instances only.
			dropins, _ := filepath.Glob(filepath.Join(unitDir, "server-impermanence-send@?*.timer.d"))
			for _, d := range dropins {
				timer := strings.TrimSuffix(filepath.Base(d), ".d")
				service := strings.TrimSuffix(timer, ".timer") + ".service"
				os.Symlink("server-impermanence-send@.timer", filepath.Join(unitDir, timer))
				os.Symlink("server-impermanence-send@.service", filepath.Join(unitDir, service))
				units = append(units, filepath.Join(unitDir, timer), filepath.Join(unitDir, service))
			}
			units = append(units, filepath.Join(unitDir, "server-impermanence-failure@btrfs-maintenance.service.service"))
			os.Symlink("server-impermanence-failure@.service", filepath.Join(unitDir, "server-impermanence-failure@btrfs-maintenance.service.service"))
			cmd := exec.Command("systemd-analyze", append([]string{"verify", "--man=no"}, units...)...)
			cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+unitDir+":", "SYSTEMD_LOG_COLOR=0")
			b, err := cmd.CombinedOutput()
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" && !helperMissing.MatchString(l) {
					t.Errorf("systemd-analyze verify: %s", l)
				}
			}
			if err != nil && t.Failed() {
				t.Errorf("systemd-analyze verify: %v", err)
			}
		})
	}
}
