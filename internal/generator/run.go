package generator

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// Program is the installed name.
const Program = "server-impermanence-generator"

// Env holds the generator's dependencies.
type Env struct {
	// Root re-roots the host paths ("" = /): /etc, /proc/cmdline and
	// /etc/initrd-release; for --check also /proc/self/mountinfo, /dev and
	// /sys.
	Root string
	// Kmsg is the kernel log device ("" disables it: log to Stderr).
	Kmsg           string
	Stdout, Stderr io.Writer
}

// DefaultEnv is the environment of a real boot.
func DefaultEnv() Env {
	return Env{Root: "/", Kmsg: "/dev/kmsg", Stdout: os.Stdout, Stderr: os.Stderr}
}

func (e Env) path(p string) string { return filepath.Join(e.Root, p) }

const usage = `Usage:
  server-impermanence-generator NORMAL_DIR [EARLY_DIR LATE_DIR]
  server-impermanence-generator --check [--config PATH]
  server-impermanence-generator --render DIR [--initrd] [--config PATH]
  server-impermanence-generator --print-default | --help | --version

As a systemd generator, reads /etc/server-impermanence/config.toml (and
config.d/*.toml) and writes mount units, drop-ins and symlinks for the
server-impermanence units. No configuration: writes nothing. Invalid
configuration: writes only the hook of server-impermanence-config-error.service
and exits 1. Kernel command line server-impermanence.rollback=0 skips the
initrd rollback for one boot.

Options:
`

// Run runs the generator with args (without the program name) and returns
// the exit code.
func Run(args []string, env Env) int {
	fs := flag.NewFlagSet(Program, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	check := fs.Bool("check", false, "validate the configuration and print the effective layout; exit 1 when invalid")
	render := fs.String("render", "", "write the units a boot would generate into `DIR` (host; with --initrd, the initrd)")
	initrd := fs.Bool("initrd", false, "with --render: render the initrd's units")
	cfgPath := fs.String("config", "", "configuration `PATH` for --check and --render (default "+config.DefaultPath+")")
	printDefault := fs.Bool("print-default", false, "print the built-in default configuration")
	version := fs.Bool("version", false, "print the version")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		fs.PrintDefaults()
	}
	if err := flagparse.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	given := map[string]bool{"check": *check, "render": *render != "", "print-default": *printDefault,
		"version": *version, "initrd": *initrd, "config": *cfgPath != ""}
	if err := checkFlags(given); err != nil {
		return usageError(env, "%v", err)
	}
	path := *cfgPath
	if path == "" {
		path = env.path(config.DefaultPath)
	}
	switch {
	case *version:
		fmt.Fprintln(env.Stdout, buildinfo.String(Program))
		return 0
	case *printDefault:
		env.Stdout.Write(config.DefaultTOML())
		return 0
	case *check:
		if fs.NArg() != 0 {
			return usageError(env, "--check takes no arguments, got %q", fs.Args())
		}
		return runCheck(path, env)
	case *render != "":
		if fs.NArg() != 0 {
			return usageError(env, "--render takes one directory: unexpected arguments %q", fs.Args())
		}
		log := slog.New(&kmsgHandler{mu: &sync.Mutex{}, w: env.Stderr, ident: Program})
		return generate(log, path, []string{*render}, plan.Env{Initrd: *initrd, SourcePath: config.DefaultPath})
	}
	if n := fs.NArg(); n != 1 && n != 3 {
		code := usageError(env, "want NORMAL_DIR or NORMAL_DIR EARLY_DIR LATE_DIR (1 or 3 directories, as systemd calls a generator), got %d arguments", n)
		fs.Usage()
		return code
	}
	log, closeLog := newLogger(env.Kmsg, env.Stderr, Program)
	defer closeLog()
	_, err := os.Stat(env.path("/etc/initrd-release"))
	penv := plan.Env{Initrd: err == nil, SourcePath: config.DefaultPath}
	cmdline, err := os.ReadFile(env.path("/proc/cmdline"))
	if err != nil {
		log.Warn("cannot read the kernel command line; assuming it is empty", "error", err.Error())
	}
	penv.Cmdline = plan.ParseCmdline(string(cmdline))
	return generate(log, path, fs.Args(), penv)
}

// usageError prints the usage error "program: message", as every binary
// of the suite does, and returns the exit code of one (2).
func usageError(env Env, format string, a ...any) int {
	fmt.Fprintf(env.Stderr, "%s: %s\n", Program, fmt.Sprintf(format, a...))
	return 2
}

// checkFlags returns the usage error of a combination of the given flags
// (by name) in which one of them would be ignored: two modes (the flags that
// each choose what a run does instead of generating), --initrd without
// --render, --config without --check or --render.
func checkFlags(given map[string]bool) error {
	var chosen []string
	for _, m := range []string{"check", "render", "print-default", "version"} {
		if given[m] {
			chosen = append(chosen, "--"+m)
		}
	}
	switch {
	case len(chosen) > 1:
		return fmt.Errorf("%s exclude each other: give one", joinAnd(chosen))
	case given["initrd"] && !given["render"]:
		return errors.New("--initrd applies to --render only")
	case given["config"] && !given["check"] && !given["render"]:
		return errors.New("--config applies to --check and --render only")
	}
	return nil
}

// joinAnd joins "a", "b", "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// generate loads the configuration, plans and writes. It returns the exit
// code: 0 when done (or not configured), 1 when the configuration is
// invalid or a file could not be written.
func generate(log *slog.Logger, path string, dirs []string, penv plan.Env) int {
	cfg, err := config.Load(path)
	if errors.Is(err, config.ErrNoConfig) {
		return 0
	}
	var res plan.Result
	if err == nil {
		res, err = plan.Build(cfg, penv)
	}
	if err != nil {
		logConfigErrors(log, path, err)
		if werr := write(plan.Invalid(penv), dirs); werr != nil {
			log.Error("write the configuration error hook: " + werr.Error())
		}
		return 1
	}
	for _, n := range res.Notes {
		log.Warn(n, "MESSAGE_ID", msgid.RollbackSkipped)
	}
	if err := write(res.Files, dirs); err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}

func logConfigErrors(log *slog.Logger, path string, err error) {
	errs, ok := config.AsErrors(err)
	if !ok {
		log.Error(fmt.Sprintf("configuration %s is invalid: %v; generated only %s, no rollback", path, err, plan.ConfigErrorService), "MESSAGE_ID", msgid.ConfigInvalid)
		return
	}
	log.Error(fmt.Sprintf("configuration %s is invalid (%d errors); generated only %s, no rollback", path, len(errs), plan.ConfigErrorService), "MESSAGE_ID", msgid.ConfigInvalid)
	for _, e := range errs {
		log.Error(strings.TrimSpace(e.Error()))
	}
}
