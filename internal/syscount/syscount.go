// Package syscount runs a command under strace(1) and returns the calls it
// made of the named system calls, each with the file its descriptor names,
// so a test can bound what a whole run does (fsyncs, writes) instead of
// timing it. For tests; strace comes from Debian's strace package.
package syscount

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Call is one system call the command made.
type Call struct {
	Name string // "fsync"
	File string // the path of its first descriptor argument ("" when none)
	// Request is a second argument strace names by a constant (an ioctl's
	// request, "BTRFS_IOC_SYNC"); "" otherwise.
	Request string
}

// line matches an strace -f -y line: "<pid> name(<fd></path>, …", with
// a second argument that is a constant's name captured.
var line = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\((?:\d+<([^>]*)>)?(?:, ([A-Z][A-Z0-9_]*)\b)?`)

// Run runs cmd (not started) under strace, tracing the named calls of it
// and every thread and child, and returns them in order. Without strace the
// test skips, unless IMPERMANENCE_REQUIRE_TOOLS is set (make test sets it).
func Run(tb testing.TB, cmd *exec.Cmd, names ...string) []Call {
	tb.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		msg := "strace not found; install it (make deps)"
		if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	out := filepath.Join(tb.TempDir(), "strace")
	args := append([]string{"-f", "-qq", "-y", "-o", out, "-e", "trace=" + strings.Join(names, ","), "-e", "signal=none", "--", cmd.Path}, cmd.Args[1:]...)
	traced := exec.Command(strace, args...)
	traced.Env, traced.Dir, traced.Stdin, traced.Stdout, traced.Stderr = cmd.Env, cmd.Dir, cmd.Stdin, cmd.Stdout, cmd.Stderr
	if err := traced.Run(); err != nil {
		b, _ := os.ReadFile(out)
		tb.Fatalf("strace %s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var calls []Call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A call another thread interrupted continues on a "resumed" line.
		if strings.Contains(sc.Text(), " resumed>") {
			continue
		}
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			calls = append(calls, Call{Name: m[1], File: m[2], Request: m[3]})
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return calls
}

// Self returns a command that runs the test binary's test name alone, with
// env added: the child half of a test that traces itself.
func Self(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
