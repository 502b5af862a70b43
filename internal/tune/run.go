package tune

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

const program = "impermanence-tune"

const usage = `Usage: impermanence-tune [options]

Writes the kernel parameters of the mode's sysctl file, then those of
[sysctl] in the configuration, below /proc/sys where the kernel's value
differs (a parameter the running kernel lacks is skipped with a warning).
Sets the compression property (compression) or the NoCoW attribute
(cow = false) of each configured subvolume on its root, at its mountpoint,
where it differs from the configuration: what one "btrfs property set
MOUNTPOINT compression ALGO" or "chattr +C MOUNTPOINT" per subvolume did,
in one process. A subvolume that is not mounted at its mountpoint is skipped
with a warning, and nothing there is touched. Run at every boot by
server-impermanence-tune.service.

Options:
`

const exitHelp = `
Exit status: 0 every kernel parameter and subvolume is as configured (or
was skipped), 1 a kernel parameter or a subvolume failed (the others are
still done), the mode's sysctl file is unreadable or the configuration is
invalid, 2 usage error.
`

// Env is what impermanence-tune needs from the host; zero fields take the
// defaults. Of the helpers' job.Env it uses Stdout, Stderr, Journal, the
// mount table (MountinfoPath) and Root (the mode's sysctl file and
// /proc/sys below it).
type Env struct {
	job.Env
	// Open opens a mountpoint (default btrfs.OpenDir).
	Open OpenFunc
}

// Run is the whole program; main only calls it.
func Run(_ context.Context, args []string, env Env) int {
	env.Env = env.Env.WithDefaults()
	if env.Open == nil {
		env.Open = openBtrfsDir
	}
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	// The flags of the job helpers that apply here: no --device, --mount
	// or --lock-timeout, as tune works on the mounted subvolumes.
	var f job.Flags
	fl.StringVar(&f.Config, "config", config.DefaultPath, "configuration `file` (drop-ins are read from config.d/ next to it)")
	fl.BoolVar(&f.Default, "default", false, "use the built-in default configuration instead of --config")
	fl.BoolVar(&f.DryRun, "dry-run", false, "print what would be changed and change nothing")
	fl.BoolVar(&f.JSON, "json", false, "print the results as JSON")
	fl.BoolVar(&f.Version, "version", false, "print the version and exit")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env.Env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, fl.Arg(0))
		return job.ExitUsage
	}
	log := job.Logger(env.Env, program)
	cfg, err := job.LoadConfig(f.Config, f.Default)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	mounts, err := mountinfo.Read(env.MountinfoPath())
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	file := plan.SysctlFile(cfg.Mode)
	settings, merr := sysctl.ReadEffective(env.Path(file), file, cfg.SysctlOverrides())
	if merr != nil {
		merr = fmt.Errorf("mode %s: %w", cfg.Mode, merr)
		log.Error(fmt.Sprintf("%v: its kernel parameters are not applied", merr), journal.MessageID(msgid.SysctlNotApplied), "error", merr.Error())
	}
	params, serr := Params(log, settings, env.Path("/proc/sys"), f.DryRun)
	rep, err := Tune(log, Wants(cfg), mounts, env.Open, f.DryRun)
	rep.Sysctl = params
	if merr != nil {
		rep.ModeError = merr.Error()
	}
	err = errors.Join(merr, serr, err)
	if perr := job.Print(env.Stdout, f.JSON, rep, rep.Print); perr != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, perr)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	return job.ExitOK
}
