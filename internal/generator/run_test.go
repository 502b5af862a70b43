package generator

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// defaultRoot returns a root with the built-in default configuration at
// its config path, and that path.
func defaultRoot(t *testing.T) (root, cfg string) {
	t.Helper()
	root = t.TempDir()
	cfg = filepath.Join(root, config.DefaultPath)
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, config.DefaultTOML(), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, cfg
}

// TestRunFlags: the modes (--check, --render, --print-default, --version)
// exclude each other, and --initrd and --config go only with the modes
// that use them; a usage error (exit 2) names the flags, prints nothing on
// stdout and writes nothing, instead of running one mode and ignoring the
// rest.
func TestRunFlags(t *testing.T) {
	root, cfg := defaultRoot(t)
	for _, tc := range []struct {
		args []string // "DIR" is a fresh output directory
		code int
		// stderr: in the usage error; stdout: in the output of a mode.
		stderr, stdout string
	}{
		{args: []string{"--print-default"}, stdout: "[snapshots]"},
		{args: []string{"--version"}, stdout: Program},
		{args: []string{"--check"}, stdout: "configuration: " + cfg + ": valid"},
		{args: []string{"--check", "--config", cfg}, stdout: "configuration: " + cfg + ": valid"},
		{args: []string{"--render", "DIR"}},
		{args: []string{"--render", "DIR", "--initrd", "--config", cfg}},
		{args: []string{"--render", "DIR", "--check=false"}},

		{args: []string{"--check", "--render", "DIR"}, code: 2, stderr: "--check and --render exclude each other"},
		{args: []string{"--render", "DIR", "--check"}, code: 2, stderr: "--check and --render exclude each other"},
		{args: []string{"--check", "--print-default"}, code: 2, stderr: "--check and --print-default exclude each other"},
		{args: []string{"--print-default", "--render", "DIR"}, code: 2, stderr: "--render and --print-default exclude each other"},
		{args: []string{"--check", "--render", "DIR", "--print-default"}, code: 2,
			stderr: "--check, --render and --print-default exclude each other"},
		{args: []string{"--check", "--version"}, code: 2, stderr: "--check and --version exclude each other"},
		{args: []string{"--print-default", "--version"}, code: 2, stderr: "--print-default and --version exclude each other"},
		{args: []string{"--check", "--initrd"}, code: 2, stderr: "--initrd applies to --render only"},
		{args: []string{"--initrd", "DIR"}, code: 2, stderr: "--initrd applies to --render only"},
		{args: []string{"--print-default", "--config", cfg}, code: 2, stderr: "--config applies to --check and --render only"},
		{args: []string{"--config", cfg, "DIR"}, code: 2, stderr: "--config applies to --check and --render only"},
		{args: []string{"--check", "DIR"}, code: 2, stderr: "--check takes no arguments"},
		{args: []string{"--render", "DIR", "DIR"}, code: 2, stderr: "--render takes one directory"},
	} {
		dir := t.TempDir()
		args := make([]string, len(tc.args))
		for i, a := range tc.args {
			args[i] = strings.ReplaceAll(a, "DIR", dir)
		}
		var stdout, stderr bytes.Buffer
		code := Run(args, Env{Root: root, Stdout: &stdout, Stderr: &stderr})
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) || !strings.Contains(stdout.String(), tc.stdout) {
			t.Errorf("Run(%q) = %d, stdout %q, stderr %q; want %d, %q in stdout, %q in stderr",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
		if tc.code != 2 {
			continue
		}
		if !strings.HasPrefix(stderr.String(), Program+": ") {
			t.Errorf("Run(%q) (a usage error) stderr %q, want it to start %q", tc.args, stderr.String(), Program+": ")
		}
		if entries, _ := os.ReadDir(dir); stdout.Len() != 0 || len(entries) != 0 {
			t.Errorf("Run(%q) (a usage error) wrote stdout %q and %d entries into DIR, want nothing", tc.args, stdout.String(), len(entries))
		}
	}
}

func TestJoinAnd(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := joinAnd(tc.in); got != tc.want {
			t.Errorf("joinAnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRunArgCount: systemd calls a generator with one directory or three;
// any other count is a usage error (exit 2) that names the program and
// says what it got, writes nothing, and is followed by the usage.
func TestRunArgCount(t *testing.T) {
	root, _ := defaultRoot(t)
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("root=/dev/vda2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n := range 5 {
		var dirs []string
		for range n {
			dirs = append(dirs, t.TempDir())
		}
		var stdout, stderr bytes.Buffer
		code := Run(dirs, Env{Root: root, Stdout: &stdout, Stderr: &stderr})
		if n == 1 || n == 3 {
			if code != 0 || stderr.Len() != 0 {
				t.Errorf("Run(%d directories) = %d, stderr %q; want 0 and nothing", n, code, stderr.String())
			}
			if entries, _ := os.ReadDir(dirs[0]); len(entries) == 0 {
				t.Errorf("Run(%d directories) wrote nothing into NORMAL_DIR", n)
			}
			continue
		}
		first, rest, _ := strings.Cut(stderr.String(), "\n")
		want := fmt.Sprintf("%s: want NORMAL_DIR or NORMAL_DIR EARLY_DIR LATE_DIR (1 or 3 directories, as systemd calls a generator), got %d arguments", Program, n)
		if code != 2 || first != want || !strings.HasPrefix(rest, "Usage:\n") || stdout.Len() != 0 {
			t.Errorf("Run(%d directories) = %d, stdout %q, stderr %q; want 2, nothing, %q then the usage", n, code, stdout.String(), stderr.String(), want)
		}
		for _, d := range dirs {
			if entries, _ := os.ReadDir(d); len(entries) != 0 {
				t.Errorf("Run(%d directories) (a usage error) wrote %d entries into %s", n, len(entries), d)
			}
		}
	}
}
