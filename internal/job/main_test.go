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
)

// TestMainProcess is the helper process of TestMain*: it runs Main with a
// run function that reports what it got.
func TestMainProcess(t *testing.T) {
	mode := os.Getenv("JOB_MAIN_TEST")
	if mode == "" {
		t.Skip("helper process of TestMainArgsAndExitCode and TestMainSIGTERM")
	}
	Main(func(ctx context.Context, args []string, env Env) int {
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
