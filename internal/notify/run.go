package notify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/systemdbus"
)

const program = "impermanence-notify"

const usage = `Usage: impermanence-notify [--config FILE] [--dry-run] UNIT

Runs [notify].command of the configuration for UNIT, a unit of the suite that
failed: with IMPERMANENCE_UNIT, IMPERMANENCE_RESULT, IMPERMANENCE_HOST,
IMPERMANENCE_INVOCATION_ID and IMPERMANENCE_JOURNAL (the failed run's last
journal lines) in its environment and a message on its standard input, killed
with its children after [notify].timeout. server-impermanence-notify@.service
runs it. Never notifies about the failure handling's own units.

Options:
`

const exitHelp = `
Exit status: 0 notified, or nothing to do (no command, a unit never
notified about); 1 the notification failed (the command failed, timed out or
did not start, or the configuration is invalid); 2 usage error.
`

// UnitSource reads unit properties (internal/systemdbus over D-Bus).
type UnitSource interface {
	Properties(ctx context.Context, unit, iface string) (map[string]any, error)
}

// JournalFunc returns the last n journal lines of the unit's run with the
// invocation ID (of the unit this boot when "").
type JournalFunc func(ctx context.Context, unit, invocation string, n int) (string, error)

// Env is what Run takes from the host.
type Env struct {
	job.Env
	// Units is the unit source (nil: the system's systemd over D-Bus).
	Units UnitSource
	// ReadJournal reads the journal (nil: journalctl).
	ReadJournal JournalFunc
	// Hostname names the host (nil: os.Hostname).
	Hostname func() (string, error)
}

// readTimeout bounds each read of systemd and the journal.
const readTimeout = 10 * time.Second

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env Env) int {
	env.Env = env.Env.WithDefaults()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	cfgPath := fl.String("config", config.DefaultPath, "configuration `file` (drop-ins are read from config.d/ next to it)")
	dryRun := fl.Bool("dry-run", false, "print the command, its environment and its message; run nothing")
	version := fl.Bool("version", false, "print the version and exit")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if err := flagparse.Parse(fl, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return job.ExitOK
		}
		return job.ExitUsage
	}
	if *version {
		fmt.Fprintln(env.Stdout, buildinfo.String(program))
		return job.ExitOK
	}
	if *cfgPath == "" {
		return job.Usage(env.Env, program, "--config \"\": an empty path")
	}
	if fl.NArg() != 1 || fl.Arg(0) == "" {
		return job.Usage(env.Env, program, "want one UNIT, got %q", fl.Args())
	}
	unit := fl.Arg(0)
	log := journal.New(journal.Options{Identifier: program, Stderr: env.Stderr, Enabled: env.Journal}).With("unit", unit)

	if why := Refusal(unit); why != "" {
		log.Warn("not notified: "+why, journal.MessageID(msgid.NotifyFailed))
		return job.ExitOK
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Error("not notified: the configuration is not usable: "+err.Error(), journal.MessageID(msgid.NotifyFailed))
		return job.ExitFailure
	}
	if len(cfg.Notify.Command) == 0 {
		log.Info("not notified: no [notify].command")
		return job.ExitOK
	}

	f := gather(ctx, env, unit, cfg.Notify.JournalLines)
	if *dryRun {
		fmt.Fprintf(env.Stdout, "command: %q\ntimeout: %s\n", cfg.Notify.Command, cfg.Notify.Timeout)
		for _, e := range Environ(f) {
			fmt.Fprintf(env.Stdout, "env: %q\n", e)
		}
		fmt.Fprintf(env.Stdout, "stdin:\n%s", Message(f))
		return job.ExitOK
	}
	start := env.Now()
	out, err := run(ctx, cfg.Notify.Command, cfg.Notify.Timeout, f)
	log = log.With("command", cfg.Notify.Command[0], "result", f.Result, "duration", env.Now().Sub(start).Seconds())
	if out != "" {
		log = log.With("output", out)
	}
	if err != nil {
		log.Error("notification failed: "+err.Error(), journal.MessageID(msgid.NotifyFailed), journal.ErrorKey, err.Error())
		return job.ExitFailure
	}
	log.Info("notified", journal.MessageID(msgid.NotifySent))
	return job.ExitOK
}

// gather reads what is known of the failure; what cannot be read is in
// Problems, and the notification goes out without it.
func gather(ctx context.Context, env Env, unit string, lines int) Facts {
	f := Facts{Unit: unit}
	hostname := env.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	if h, err := hostname(); err == nil {
		f.Host = h
	} else {
		f.Host = "unknown host"
	}
	units := env.Units
	if units == nil {
		c := systemdbus.New()
		defer c.Close()
		units = c
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if p, err := units.Properties(rctx, unit, "Unit"); err != nil {
		f.Problems = append(f.Problems, "unit properties: "+err.Error())
	} else {
		if id, ok := p["InvocationID"].([]byte); ok && len(id) > 0 {
			f.InvocationID = hex.EncodeToString(id)
		}
		if s, err := units.Properties(rctx, unit, "Service"); err == nil {
			f.Result, _ = s["Result"].(string)
		} else if st, ok := p["ActiveState"].(string); ok {
			f.Result = st
		}
	}
	if lines > 0 {
		read := env.ReadJournal
		if read == nil {
			read = journalctl
		}
		j, err := read(rctx, unit, f.InvocationID, lines)
		if err != nil {
			f.Problems = append(f.Problems, "journal: "+err.Error())
		}
		f.Journal = j
	}
	return f
}

// journalctl reads the last n lines of the run: the unit's own entries and
// systemd's about it, by invocation ID; without one, the unit's at this boot.
func journalctl(ctx context.Context, unit, invocation string, n int) (string, error) {
	args := []string{"--no-pager", "--quiet", "--output", "short-iso", "--lines", strconv.Itoa(n)}
	if invocation != "" {
		args = append(args, "_SYSTEMD_INVOCATION_ID="+invocation, "+", "INVOCATION_ID="+invocation)
	} else {
		args = append(args, "--boot", "--unit", unit)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "journalctl", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("journalctl: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// maxOutput bounds the command's output kept for the log.
const maxOutput = 4 << 10

// run runs argv in a process group of its own, with the facts in its
// environment and the message on its standard input; after timeout (0:
// none) the whole group is killed. It returns the start of the command's
// output (stdout and stderr together).
func run(ctx context.Context, argv []string, timeout time.Duration, f Facts) (string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	out := &limited{max: maxOutput}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), Environ(f)...)
	cmd.Stdin = strings.NewReader(Message(f))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Children that keep the output open past the kill do not hold Run.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return out.String(), fmt.Errorf("%s: killed after the timeout of %s", argv[0], timeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w", argv[0], err)
	}
	return out.String(), nil
}

// limited keeps the first max bytes written to it.
type limited struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (l *limited) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limited) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}
