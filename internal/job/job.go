// Package job is the shell every helper shares: the exit codes, the common
// flags, loading the configuration, reaching the top level of the
// filesystem (an existing mount given with --mount, or a detached private
// mount of the device that dies with the process), the per-filesystem lock, the
// journal logger, the audit log, the state record and the end of a run a
// signal stops (Main, Stopped). Every host path
// derives from Env.Root and the clock is Env.Now, so tests re-root and
// re-time a whole run.
//
// It is linked into the initrd helper (impermanence-rollback), so it keeps
// to the boot-path diet: the standard library, golang.org/x/sys, go-systemd's
// pure packages and internal packages that keep to it too.
package job

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/flagparse"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Exit codes of the helpers.
const (
	ExitOK      = 0
	ExitFailure = 1 // failed or refused; the message says why
	ExitUsage   = 2 // a bad command line; nothing was done
	// ExitMismatch is impermanence-provision's: the existing layout
	// differs from the configuration.
	ExitMismatch = 3
)

// DefaultLockTimeout is how long a job waits for the filesystem lock
// unless its Flags say otherwise.
const DefaultLockTimeout = 30 * time.Minute

// Env is what a helper needs from the host; zero fields take the defaults.
type Env struct {
	Stdout, Stderr io.Writer
	// Root re-roots every host path a helper reads or writes ("" is "/"):
	// the run directory (the locks, the rollback's record),
	// the state directory, the audit log, /proc/cmdline, the boot id,
	// /sys/power/resume and /dev/console.
	Root string
	// Mountinfo and Sysfs override the kernel's mount table and /sys ("":
	// the running kernel's, whatever Root is, since the filesystem a helper
	// works on is a real mount).
	Mountinfo, Sysfs string
	// Journal reports whether the journal listens (default: its socket exists).
	Journal func() bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sleep waits (default time.Sleep).
	Sleep func(time.Duration)
}

// WithDefaults fills the zero fields.
func (e Env) WithDefaults() Env {
	if e.Stdout == nil {
		e.Stdout = os.Stdout
	}
	if e.Stderr == nil {
		e.Stderr = os.Stderr
	}
	if e.Root == "" {
		e.Root = "/"
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = time.Sleep
	}
	return e
}

// Path returns the host path p (absolute or relative to /) beneath Root.
func (e Env) Path(p string) string {
	root := e.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, p)
}

// RunDir holds the lock directory and the rollback's record (and, left by
// older versions, attached top-level mounts: Session.Lock removes them):
// /run/server-impermanence, which survives the switch from the initrd to
// the host root.
func (e Env) RunDir() string { return e.Path(state.RunDir) }

// LockDir holds the per-filesystem job locks.
func (e Env) LockDir() string { return filepath.Join(e.RunDir(), "lock") }

// StateDir holds the host jobs' records.
func (e Env) StateDir() string { return e.Path(state.DefaultDir) }

// AuditPath is the audit log on the host.
func (e Env) AuditPath() string { return e.Path(audit.DefaultPath) }

// MountinfoPath is the mount table read (Mountinfo, else the running
// kernel's).
func (e Env) MountinfoPath() string {
	if e.Mountinfo != "" {
		return e.Mountinfo
	}
	return "/proc/self/mountinfo"
}

// Flags are the options every helper has.
type Flags struct {
	Config  string
	Default bool
	Device  string
	Mount   string
	JSON    bool
	DryRun  bool
	Version bool
	// LockTimeout is --lock-timeout (Register only: read-only commands
	// take no lock). Set before Register, it is the flag's default
	// (else DefaultLockTimeout).
	LockTimeout time.Duration
}

// Register adds the common flags of a command that takes the filesystem
// lock to fs: those of RegisterReadOnly and --lock-timeout; dryRun adds
// --dry-run.
func (f *Flags) Register(fs *flag.FlagSet, dryRun bool) {
	f.RegisterReadOnly(fs)
	def := f.LockTimeout
	if def == 0 {
		def = DefaultLockTimeout
	}
	fs.DurationVar(&f.LockTimeout, "lock-timeout", def, "how long to wait for the filesystem lock held by another job")
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

// ParseFlags parses args with fs; it returns done (and the exit code) for
// --help, usage errors (a negative --lock-timeout among them) and --version.
func ParseFlags(fs *flag.FlagSet, args []string, f *Flags, env Env, version func() string) (done bool, code int) {
	if err := flagparse.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, ExitOK
		}
		return true, ExitUsage
	}
	// An empty path given explicitly is a mistake (an unset variable in a
	// script), never "the default".
	for _, name := range []string{"config", "device", "mount"} {
		if fl := fs.Lookup(name); fl != nil && fl.Value.String() == "" && IsSet(fs, name) {
			return true, Usage(env, fs.Name(), "--%s \"\": an empty path", name)
		}
	}
	if fs.Lookup("lock-timeout") != nil {
		if err := NotNegative("--lock-timeout", f.LockTimeout); err != nil {
			return true, Usage(env, fs.Name(), "%v", err)
		}
	}
	if f.Version {
		fmt.Fprintln(env.Stdout, version())
		return true, ExitOK
	}
	return false, 0
}

// Usage prints the usage error "program: message" and returns ExitUsage.
func Usage(env Env, program, format string, a ...any) int {
	fmt.Fprintf(env.Stderr, "%s: %s\n", program, fmt.Sprintf(format, a...))
	return ExitUsage
}

// NotNegative refuses a negative duration given to flag name.
func NotNegative(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s %s: must not be negative (0: do not wait)", name, d)
	}
	return nil
}

// IsSet reports whether the flag name was given on the command line.
func IsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
