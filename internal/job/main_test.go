package job

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/state"
)

// TestMainProcess is the helper process of TestMain*: it runs Main with a
// run function that reports what it got.
func TestMainProcess(t *testing.T) {
	mode := os.Getenv("JOB_MAIN_TEST")
	if mode == "" {
		t.Skip("helper process of the TestMain* tests")
	}
	if g, err := time.ParseDuration(os.Getenv("JOB_MAIN_GRACE")); err == nil {
		stopGrace = g
	}
	Main(func(ctx context.Context, args []string, env Env) int {
		if mode == "hang" { // blocked where it cannot notice the signal
			s := Begin(ctx, Env{Root: os.Getenv("JOB_MAIN_ROOT"), Journal: func() bool { return false }}, "impermanence-test", "test")
			s.Records = true
			fmt.Println("started")
			select {}
		}
		fmt.Printf("args %q, env zero %t\n", args, env.Root == "" && env.Stdout == nil && env.Now == nil)
		if mode == "wait" {
			select {
			case <-ctx.Done():
				fmt.Println("cancelled")
				return 5
			case <-time.After(10 * time.Second):
				return 6
			}
		}
		return 7
	})
}

func mainProcess(t *testing.T, mode string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestMainProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "JOB_MAIN_TEST="+mode)
	return cmd
}

// startHung starts a helper process whose run ignores the signal, with
// grace, and waits until it runs; it returns its stderr.
func startHung(t *testing.T, root, grace string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := mainProcess(t, "hang")
	cmd.Env = append(cmd.Env, "JOB_MAIN_ROOT="+root, "JOB_MAIN_GRACE="+grace)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "started\n" {
		t.Fatalf("helper process: %q", line)
	}
	return cmd, &stderr
}

// TestMainForcedStop: a run that does not end within the grace after
// SIGTERM is ended by Main, which says so on stderr (the journal of the
// unit) and records the failure.
func TestMainForcedStop(t *testing.T) {
	root := t.TempDir()
	cmd, stderr := startHung(t, root, "300ms")
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	took := time.Since(t0)
	var ee *exec.ExitError
	msg := "test stopped by SIGTERM and still busy 300ms later: ended without finishing (what it finished is complete; the next run does the rest)"
	if !errors.As(err, &ee) || ee.ExitCode() != ExitFailure || took > 2*time.Second {
		t.Errorf("after SIGTERM: %v after %s; want exit 1 within 2s", err, took)
	}
	if want := "impermanence-test: " + msg + "\n"; !strings.HasPrefix(stderr.String(), want) || !strings.Contains(stderr.String(), "level=ERROR msg=\""+msg+"\"") {
		t.Errorf("stderr:\n%s\nwant %q and the journal entry", stderr, want)
	}
	r, err := state.Read(Env{Root: root}.StateDir(), "test")
	if err != nil || r.Result != state.ResultFailure || r.Error != msg {
		t.Errorf("record %+v, %v; want a failure: %s", r, err, msg)
	}
}

// TestMainSecondSignal: a second SIGTERM ends the process at once.
func TestMainSecondSignal(t *testing.T) {
	cmd, _ := startHung(t, t.TempDir(), "1m")
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("after two SIGTERMs: %v, want killed by SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("still running 5s after the second SIGTERM")
	}
}

// TestMainArgsAndExitCode: Main passes the arguments after the program name
// and the zero environment, and exits with run's code.
func TestMainArgsAndExitCode(t *testing.T) {
	out, err := mainProcess(t, "exit", "--dry-run", "@root").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("exit: %v, want code 7\n%s", err, out)
	}
	// The test binary's own flags come first in os.Args[1:].
	if got := string(out); !strings.HasSuffix(got, "\"--\" \"--dry-run\" \"@root\"], env zero true\n") {
		t.Errorf("output %q", got)
	}
}

// TestMainSIGTERM: SIGTERM cancels run's context.
func TestMainSIGTERM(t *testing.T) {
	cmd := mainProcess(t, "wait")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	first, _ := r.ReadString('\n') // run has started
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(r)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 || !strings.HasPrefix(first, "args ") || string(rest) != "cancelled\n" {
		t.Errorf("after SIGTERM: %v, output %q %q; want exit 5 after \"cancelled\"", err, first, rest)
	}
}
