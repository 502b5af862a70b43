// Package job is the shell the snapshot, prune and maintain helpers share:
// the common flags, loading the configuration, reaching the top level of the
// filesystem (an existing mount given with --mount, or a private mount of the
// device under /run/server-impermanence), the per-filesystem lock, the
// journal logger, the audit log and the state record. Every host path is a
// field of Env, so tests re-root them.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Exit codes of the helpers.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what a helper needs from the host; zero fields take the defaults.
type Env struct {
	Stdout, Stderr io.Writer
	// RunDir holds private top-level mounts (default /run/server-impermanence).
	RunDir string
	// LockDir holds the per-filesystem locks (default lock.DefaultDir).
	LockDir string
	// StateDir holds the job records (default state.DefaultDir).
	StateDir string
	// AuditPath is the audit log (default audit.DefaultPath).
	AuditPath string
	// Mountinfo is /proc/self/mountinfo; Sysfs is /sys.
	Mountinfo, Sysfs string
	// Journal reports whether the journal listens (default: its socket exists).
	Journal func() bool
	// Now is the clock (default time.Now); read once per run.
	Now func() time.Time
	// Sleep waits (default time.Sleep).
	Sleep func(time.Duration)
	// AfterRun, when set, runs when a session closes, e.g. to refresh the
	// textfile metrics (mains set it; tests leave it nil so nothing is
	// written outside their temporary directories).
	AfterRun func(cfg *config.Config, log *slog.Logger)
}

// WithDefaults fills the zero fields.
func (e Env) WithDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.RunDir == "" {
		e.RunDir = state.RunDir
	}
	if e.LockDir == "" {
		e.LockDir = lock.DefaultDir
	}
	if e.StateDir == "" {
		e.StateDir = state.DefaultDir
	}
	if e.AuditPath == "" {
		e.AuditPath = audit.DefaultPath
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = time.Sleep
	}
	return e
}

// Flags are the options every helper has.
type Flags struct {
	Config      string
	Default     bool
	Device      string
	Mount       string
	JSON        bool
	DryRun      bool
	Version     bool
	LockTimeout time.Duration // Register only: read-only commands take no lock
}

// Register adds the common flags of a command that takes the filesystem
// lock to fs: those of RegisterReadOnly and --lock-timeout; dryRun adds
// --dry-run.
func (f *Flags) Register(fs *flag.FlagSet, dryRun bool) {
	f.RegisterReadOnly(fs)
	fs.DurationVar(&f.LockTimeout, "lock-timeout", 30*time.Minute, "how long to wait for the filesystem lock held by another job")
	if dryRun {
		fs.BoolVar(&f.DryRun, "dry-run", false, "print what would be done and change nothing")
	}
}

// RegisterReadOnly adds the common flags of a command that only reads and
// takes no lock (Open with noLock): no --lock-timeout, which it would
// accept and ignore, and no --dry-run.
func (f *Flags) RegisterReadOnly(fs *flag.FlagSet) {
	fs.StringVar(&f.Config, "config", config.DefaultPath, "configuration `file` (drop-ins are read from config.d/ next to it)")
	fs.BoolVar(&f.Default, "default", false, "use the built-in default configuration instead of --config")
	fs.StringVar(&f.Device, "device", "", "btrfs `device` (default: device from the configuration)")
	fs.StringVar(&f.Mount, "mount", "", "use this mounted top level (subvolid=5) `dir` instead of mounting the device privately")
	fs.BoolVar(&f.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
}

// Session is one run of a helper on one filesystem.
type Session struct {
	Env     Env
	Program string
	Job     string
	Config  *config.Config
	FS      *btrfs.FS
	Log     *slog.Logger
	Audit   *audit.Log // nil when the audit log cannot be opened (logged)
	Start   time.Time
	closers []func() error
}

// Logger returns the journal logger of program (stderr text without a
// journal).
func Logger(env Env, program string) *slog.Logger {
	return journal.New(journal.Options{Identifier: program, Stderr: env.Stderr, Enabled: env.Journal})
}

// Open loads the configuration, reaches and opens the top level and takes
// the lock (unless noLock, for read-only commands). Close releases all.
func Open(ctx context.Context, env Env, f Flags, program, jobName string, noLock bool) (*Session, error) {
	env = env.WithDefaults()
	s := &Session{Env: env, Program: program, Job: jobName, Start: env.Now()}
	s.Log = Logger(env, program)
	cfg, err := LoadConfig(f.Config, f.Default)
	if err != nil {
		return nil, err
	}
	s.Config = cfg
	top := f.Mount
	if top == "" {
		dev := cfg.Device
		if f.Device != "" {
			dev = f.Device
		}
		dir, unmount, err := btrfs.MountTopLevel(dev, env.RunDir, program, false)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, unmount)
		top = dir
	}
	var opts []btrfs.Option
	if env.Mountinfo != "" {
		opts = append(opts, btrfs.WithMountinfo(env.Mountinfo))
	}
	if env.Sysfs != "" {
		opts = append(opts, btrfs.WithSysfs(env.Sysfs))
	}
	fsys, err := btrfs.Open(top, opts...)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.FS = fsys
	s.closers = append(s.closers, fsys.Close)
	if !noLock {
		l, err := lock.Acquire(ctx, env.LockDir, fsys.FSID().String(), jobName, f.LockTimeout, s.Log)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.closers = append(s.closers, l.Release)
		if a, err := audit.Open(env.AuditPath); err != nil {
			s.Log.Warn("audit log unavailable", "error", err)
		} else {
			s.Audit = a
			s.closers = append(s.closers, a.Close)
		}
	}
	return s, nil
}

// OpenRun is Open for a job's run: when opening fails it prints the error,
// calls onFail (may be nil; a job logs its own journal message there) and,
// unless this is a dry run, records the failure in the job's state file, so
// that the exporter sees a run that could not even start.
func OpenRun(ctx context.Context, env Env, f Flags, program, jobName string, onFail func(log *slog.Logger, err error)) (*Session, error) {
	start := env.WithDefaults().Now()
	s, err := Open(ctx, env, f, program, jobName, f.DryRun)
	if err == nil {
		return s, nil
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
	if onFail != nil {
		onFail(Logger(env, program), err)
	}
	if !f.DryRun {
		RecordFailure(env, jobName, start, err)
	}
	return nil, err
}

// Close releases the lock, closes the filesystem and unmounts a private
// mount, in reverse order of opening.
func (s *Session) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	if s.Env.AfterRun != nil && s.Config != nil {
		s.Env.AfterRun(s.Config, s.Log)
	}
	return errors.Join(errs...)
}

// AuditEvent appends an event; a failure is logged, not fatal.
func (s *Session) AuditEvent(e audit.Event) {
	if s.Audit == nil {
		return
	}
	if e.Job == "" {
		e.Job = s.Job
	}
	if e.Time.IsZero() {
		e.Time = s.Env.Now()
	}
	if err := s.Audit.Append(e); err != nil {
		s.Log.Warn("audit log write failed", "error", err)
	}
}

// Record writes the job's state record; a failure is logged.
func (s *Session) Record(r state.Record) {
	if r.Job == "" {
		r.Job = s.Job
	}
	if r.Duration == 0 {
		r.Duration = s.Env.Now().Sub(s.Start).Seconds()
	}
	if err := state.Finish(s.Env.StateDir, r, s.Start); err != nil {
		s.Log.Warn("state record write failed", "job", r.Job, "error", err)
	}
}

// RecordFailure writes a failed-job record for a run that could not start
// (no Session): invalid config, no filesystem, lock timeout.
func RecordFailure(env Env, jobName string, start time.Time, err error) {
	env = env.WithDefaults()
	r := state.Record{Job: jobName, Result: state.ResultFailure, Error: err.Error(),
		Duration: env.Now().Sub(start).Seconds()}
	if werr := state.Finish(env.StateDir, r, start); werr != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", jobName, werr)
	}
}

// LoadConfig loads the configuration at path, or the built-in default.
func LoadConfig(path string, builtin bool) (*config.Config, error) {
	if builtin {
		return config.Default(), nil
	}
	cfg, err := config.Load(path)
	if errors.Is(err, config.ErrNoConfig) {
		return nil, fmt.Errorf("%w (write one, or use --default for the built-in layout)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// ParseFlags parses args with fs; it returns done (and the exit code) for
// --help, usage errors and --version.
func ParseFlags(fs *flag.FlagSet, args []string, f *Flags, env Env, program string, version func() string) (done bool, code int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, ExitOK
		}
		return true, ExitUsage
	}
	if f.Version {
		fmt.Fprintln(env.Stdout, version())
		return true, ExitOK
	}
	return false, 0
}

// Print writes a helper's result to w: indented JSON with --json (an
// encoding error is returned), else the text that print writes.
func Print(w io.Writer, asJSON bool, v any, print func(io.Writer)) error {
	if !asJSON {
		print(w)
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
