package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/unitname"
)

// Hook phases.
const (
	PhasePre  = "pre"
	PhasePost = "post"
)

// Hook is one pre_snapshot or post_snapshot command to run.
type Hook struct {
	Phase     string
	Subvolume string
	// Snapshot is the snapshot's name, Path its path below the top level.
	Snapshot, Path string
	Argv           []string
	User           string
	Timeout        time.Duration
}

// Env is the hook's environment beyond a plain login's: what it is run
// for.
func (h Hook) Env() []string {
	return []string{
		"IMPERMANENCE_HOOK=" + h.Phase,
		"IMPERMANENCE_SUBVOLUME=" + h.Subvolume,
		"IMPERMANENCE_SNAPSHOT=" + h.Snapshot,
		"IMPERMANENCE_SNAPSHOT_PATH=" + h.Path,
	}
}

// Hook results (HookResult.Result), as systemd names a service's result.
const (
	HookSuccess  = "success"
	HookExitCode = "exit-code" // exited non-zero
	HookTimeout  = "timeout"
	HookSignal   = "signal" // killed by a signal it was not sent by the timeout
	HookError    = "error"  // could not be started
	// HookDryRun: --dry-run, not run.
	HookDryRun = "dry-run"
)

// HookResult is what one hook did.
type HookResult struct {
	Phase   string  `json:"phase"`
	Argv    string  `json:"argv"`
	User    string  `json:"user"`
	Result  string  `json:"result"`
	Status  int     `json:"exit_status,omitempty"`
	Seconds float64 `json:"seconds"`
	// Output is the end of what the hook wrote (the direct runner; under
	// systemd it is in the journal of Unit).
	Output string `json:"output,omitempty"`
	Unit   string `json:"unit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// OK reports whether the hook succeeded.
func (r HookResult) OK() bool { return r.Result == HookSuccess }

// String says what went wrong, for the report and the journal.
func (r HookResult) String() string {
	s := fmt.Sprintf("%s_snapshot hook %s: %s", r.Phase, r.Argv, r.Result)
	switch {
	case r.Result == HookExitCode:
		s += fmt.Sprintf(" (exit status %d)", r.Status)
	case r.Result == HookTimeout:
		s += fmt.Sprintf(" (stopped after %.1fs)", r.Seconds)
	}
	if r.Error != "" {
		s += ": " + r.Error
	}
	if out := strings.TrimSpace(r.Output); out != "" {
		s += "; output: " + strings.ReplaceAll(out, "\n", " | ")
	}
	if r.Unit != "" && !r.OK() {
		s += "; journalctl -u " + r.Unit
	}
	return s
}

// HookRunner runs a hook to its end or its timeout.
type HookRunner interface {
	Run(ctx context.Context, h Hook) HookResult
}

// Runner returns the runner for a host: a transient unit through
// systemd-run when systemd is the init system (runDir/systemd/system
// exists: sd_booted), else the hook run directly.
func Runner(systemdRunDir string) HookRunner {
	if fi, err := os.Stat(systemdRunDir); err == nil && fi.IsDir() {
		return SystemdRun{Bin: SystemdRunBin}
	}
	return Direct{}
}

// SystemdRunBin is systemd-run(1).
const SystemdRunBin = "/usr/bin/systemd-run"

// hookKill is how long a hook has after SIGTERM before SIGKILL.
const hookKill = 5 * time.Second

// SystemdRun runs each hook as a transient service: outside the snapshot
// job's sandbox (the service has no PrivateNetwork, no system call
// filter), as the hook's user, stopped by systemd after the timeout
// (RuntimeMaxSec=), its processes in their own cgroup, its output in its
// own journal.
type SystemdRun struct{ Bin string }

// Args is the systemd-run command line of h.
func (r SystemdRun) Args(h Hook) []string {
	args := []string{r.Bin, "--wait", "--collect", "--service-type=exec",
		"--unit=" + HookUnit(h),
		"--description=" + fmt.Sprintf("%s_snapshot hook of %s (server-impermanence)", h.Phase, h.Subvolume),
		"--uid=" + h.User,
		"--property=RuntimeMaxSec=" + strconv.FormatInt(h.Timeout.Microseconds(), 10) + "us",
		"--property=TimeoutStopSec=" + strconv.Itoa(int(hookKill/time.Second)) + "s",
	}
	for _, e := range h.Env() {
		args = append(args, "--setenv="+e)
	}
	return append(append(args, "--"), h.Argv...)
}

// HookUnit is the transient unit of a hook: one per phase and subvolume,
// so two runs never run one hook twice at once.
func HookUnit(h Hook) string {
	name, err := unitname.FromPath("/"+h.Subvolume, "")
	if err != nil || name == "" || name == "-" {
		name = "root"
	}
	return "server-impermanence-hook-" + h.Phase + "-" + strings.TrimPrefix(name, "-") + ".service"
}

var systemdResult = regexp.MustCompile(`(?m)^Finished with result: (\S+)$`)
var systemdStatus = regexp.MustCompile(`(?m)^Main processes terminated with: code=exited/status=([0-9]+)$`)

// Run runs h through systemd-run --wait.
func (r SystemdRun) Run(ctx context.Context, h Hook) HookResult {
	res := HookResult{Phase: h.Phase, Argv: strings.Join(h.Argv, " "), User: h.User, Unit: HookUnit(h)}
	// systemd stops the hook at its timeout; this one only ends a
	// systemd-run that does not return.
	ctx, cancel := context.WithTimeout(ctx, h.Timeout+hookKill+10*time.Second)
	defer cancel()
	args := r.Args(h)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	res.Seconds = time.Since(t0).Seconds()
	ParseSystemdRun(&res, out.String(), err)
	return res
}

// ParseSystemdRun fills res from systemd-run --wait's output and error.
func ParseSystemdRun(res *HookResult, out string, err error) {
	if m := systemdResult.FindStringSubmatch(out); m != nil {
		res.Result = m[1]
		if m := systemdStatus.FindStringSubmatch(out); m != nil {
			res.Status, _ = strconv.Atoi(m[1])
		}
		if res.Result != HookSuccess {
			res.Output = tail(out)
		}
		if res.Result == HookSuccess && err != nil {
			res.Result, res.Error = HookError, err.Error()
		}
		return
	}
	res.Result, res.Output = HookError, tail(out)
	if err != nil {
		res.Error = "systemd-run: " + err.Error()
	} else {
		res.Error = "systemd-run printed no result"
	}
}

// Direct runs a hook as a child process of the job, for a system without
// systemd (impermanence-snapshot run by hand in a container or a chroot):
// as the hook's user, with the same environment as under systemd, in its
// own process group, which is sent SIGTERM at the timeout and SIGKILL
// hookKill later.
type Direct struct{}

// Run runs h.
func (Direct) Run(ctx context.Context, h Hook) HookResult {
	res := HookResult{Phase: h.Phase, Argv: strings.Join(h.Argv, " "), User: h.User}
	cmd := exec.Command(h.Argv[0], h.Argv[1:]...)
	u, err := lookupUser(h.User)
	if err != nil {
		res.Result, res.Error = HookError, err.Error()
		return res
	}
	cred, err := credential(u)
	if err != nil {
		res.Result, res.Error = HookError, err.Error()
		return res
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Dir = u.HomeDir
	if fi, err := os.Stat(u.HomeDir); err != nil || !fi.IsDir() {
		cmd.Dir = "/"
	}
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + u.HomeDir, "USER=" + u.Username, "LOGNAME=" + u.Username, "LANG=C.UTF-8"}, h.Env()...)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second // a child that keeps the output open
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		res.Result, res.Error = HookError, err.Error()
		return res
	}
	var mu sync.Mutex
	timedOut := false
	stop := func(why bool) {
		mu.Lock()
		timedOut = timedOut || why
		mu.Unlock()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		time.AfterFunc(hookKill, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	}
	timer := time.AfterFunc(h.Timeout, func() { stop(true) })
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop(false)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	timer.Stop()
	// Whatever the hook left running in its group goes with it.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	res.Seconds = time.Since(t0).Seconds()
	mu.Lock()
	defer mu.Unlock()
	var exit *exec.ExitError
	switch {
	case timedOut:
		res.Result = HookTimeout
	case err == nil:
		res.Result = HookSuccess
		return res
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.Result, res.Status = HookExitCode, exit.ExitCode()
	case errors.As(err, &exit):
		res.Result, res.Error = HookSignal, exit.String()
	default:
		res.Result, res.Error = HookError, err.Error()
	}
	res.Output = out.String()
	return res
}

func lookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		return user.LookupId(name)
	}
	return user.Lookup(name)
}

// credential is the user's uid, primary gid and groups; nil when it is the
// current user (no change of identity needed, or possible unprivileged).
func credential(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q", u.Username, u.Gid)
	}
	if int(uid) == os.Getuid() && int(gid) == os.Getgid() {
		return nil, nil
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(n))
			}
		}
	}
	return c, nil
}

// maxHookOutput is how much of a hook's output a result keeps: its end.
const maxHookOutput = 2048

func tail(s string) string {
	if len(s) > maxHookOutput {
		return "…" + s[len(s)-maxHookOutput:]
	}
	return s
}

// tailBuffer keeps the last maxHookOutput bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	cut bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > maxHookOutput {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-maxHookOutput:]...)
		b.cut = true
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return "…" + string(b.buf)
	}
	return string(b.buf)
}
