package status

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/systemdbus"
)

const program = "impermanence-status"

// Exit codes: a monitoring check reads them.
const (
	ExitHealthy  = 0 // nothing needs attention
	ExitWarning  = 1 // a problem needs attention, none critical
	ExitUsage    = job.ExitUsage
	ExitCritical = 3 // a critical problem: failed rollback or snapshots, device or scrub errors, invalid configuration
)

const usage = `Usage: impermanence-status [--json] [--color WHEN] [--no-systemd] [--config FILE]

Says whether this server is healthy: this boot's rollback, snapshots and
archives of every subvolume, free space, device and scrub errors, every job's
last run and next timer, the configuration and the initrd's copy of it, the
replication targets. Problems come first, each with the commands that explain
or fix it. It reads what impermanence-exporter reads and mounts nothing.

Options:
`

const exitHelp = `
Exit status: 0 healthy; 1 a problem needs attention (warnings only); 3 a
critical problem; 2 usage error.
`

// Env is what Run takes from the host.
type Env struct {
	job.Env
	// Systemd is the unit source (nil: the system's systemd over D-Bus).
	Systemd metrics.UnitSource
	// Terminal reports whether w is a terminal that takes colour (nil: a
	// character device answering TCGETS, and NO_COLOR unset).
	Terminal func(w io.Writer) bool
}

// Run is the whole program; main only calls it.
func Run(_ context.Context, args []string, env Env) int {
	env.Env = env.Env.WithDefaults()
	if env.Terminal == nil {
		env.Terminal = isTerminal
	}
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	cfgPath := fl.String("config", "", "configuration `file` (default /etc/server-impermanence/config.toml; drop-ins from config.d/ next to it)")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	colour := fl.String("color", "auto", "colour the text: `auto` (on a terminal), always or never")
	noSystemd := fl.Bool("no-systemd", false, "do not read units and timers from systemd over D-Bus")
	timeout := fl.Duration("timeout", 5*time.Second, "bound the D-Bus calls to systemd")
	version := fl.Bool("version", false, "print the version and exit")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if err := flagparse.Parse(fl, args); err != nil {
		if err == flag.ErrHelp {
			return ExitHealthy
		}
		return ExitUsage
	}
	if fl.NArg() > 0 {
		return job.Usage(env.Env, program, "unexpected arguments %q", fl.Args())
	}
	if job.IsSet(fl, "config") && *cfgPath == "" {
		return job.Usage(env.Env, program, "--config \"\": an empty path")
	}
	if *colour != "auto" && *colour != "always" && *colour != "never" {
		return job.Usage(env.Env, program, "--color %q: want auto, always or never", *colour)
	}
	if *timeout <= 0 {
		return job.Usage(env.Env, program, "--timeout %s: must be positive", *timeout)
	}
	if *version {
		fmt.Fprintln(env.Stdout, buildinfo.String(program))
		return ExitHealthy
	}

	paths := metrics.PathsAt(env.Root)
	if *cfgPath != "" {
		paths.Config = *cfgPath
	}
	if env.Mountinfo != "" {
		paths.Mountinfo = env.Mountinfo
	}
	if env.Sysfs != "" {
		paths.Sysfs = env.Sysfs
	}
	src := Sources{Paths: paths, Timeout: *timeout}
	if !*noSystemd {
		src.Systemd = env.Systemd
		if src.Systemd == nil {
			c := systemdbus.New()
			defer c.Close()
			src.Systemd = c
		}
	}
	rep := Assess(Gather(src, env.Now()))

	var err error
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = Render(env.Stdout, rep, *colour == "always" || (*colour == "auto" && env.Terminal(env.Stdout)))
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: write the report: %v\n", program, err)
		return ExitCritical
	}
	return ExitCode(rep)
}

// ExitCode is the exit status of a report.
func ExitCode(r Report) int {
	code := ExitHealthy
	for _, p := range r.Problems {
		if p.Severity == Critical {
			return ExitCritical
		}
		code = ExitWarning
	}
	return code
}

// isTerminal reports whether w is a terminal and NO_COLOR is unset.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
