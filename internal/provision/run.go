package provision

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/lock"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitMismatch = 3
)

const program = "impermanence-provision"

// Env is what Run needs from the host; tests point it at their own files.
type Env struct {
	Stdout, Stderr io.Writer
	// RunDir holds the private top-level mount; default /run/server-impermanence.
	RunDir string
	// LockDir holds the per-filesystem job locks; default RunDir/lock
	// (lock.DefaultDir).
	LockDir string
	// Mountinfo is /proc/self/mountinfo.
	Mountinfo string
	// AuditPath is the audit log every change is appended to; "" writes
	// none (the command sets audit.DefaultPath).
	AuditPath string
}

const usage = `Usage: impermanence-provision [options]

Creates on the configured btrfs filesystem everything the configuration
describes and that is missing: subvolumes (NoCoW and compression set while
empty), each ephemeral subvolume's read-only blank, the snapshots subvolume
(root:root 0700) and the archive directory. Idempotent: what exists is never
changed; where it differs from the configuration it is reported. The one
exception is --replace-blank, which replaces the root's existing blank with
a new capture from --blank-from, never leaving the filesystem without one.
It takes the filesystem job lock, like the rollback, snapshot and prune.

Options:
`

const exitHelp = `
Exit status: 0 done (or nothing to do), 1 failure, 2 usage error,
3 the existing layout differs from the configuration (see the mismatches).
A compression property that the next boot sets (the rollback on an ephemeral
subvolume, server-impermanence-tune.service on the others) is a warning.
`

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env Env) int {
	flags := flag.NewFlagSet(program, flag.ContinueOnError)
	flags.SetOutput(env.Stderr)
	var (
		cfgPath   = flags.String("config", config.DefaultPath, "configuration `file` (drop-ins are read from config.d/ next to it)")
		builtin   = flags.Bool("default", false, "use the built-in default configuration instead of --config")
		device    = flags.String("device", "", "btrfs `device` to provision (default: device from the configuration)")
		mount     = flags.String("mount", "", "use this already mounted top level (subvolid=5) `dir` instead of mounting the device")
		blankFrom = flags.String("blank-from", "", "capture the root's blank from a `path` (absolute directory, copied) or subvolume (relative to the top level, snapshotted)")
		replace   = flags.Bool("replace-blank", false, "with --blank-from: replace the existing blank with a new capture (atomic exchange; the old blank is deleted)")
		lockWait  = flags.Duration("lock-timeout", 30*time.Minute, "how long to wait for the filesystem lock held by another job")
		dryRun    = flags.Bool("dry-run", false, "print what would be done and change nothing")
		asJSON    = flags.Bool("json", false, "print the plan and the layout as JSON")
		version   = flags.Bool("version", false, "print the version and exit")
	)
	flags.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		flags.PrintDefaults()
		fmt.Fprint(env.Stderr, exitHelp)
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, flags.Arg(0))
		return ExitUsage
	}
	if *version {
		fmt.Fprintln(env.Stdout, buildinfo.String(program))
		return ExitOK
	}
	if *replace && *blankFrom == "" {
		fmt.Fprintf(env.Stderr, "%s: --replace-blank needs --blank-from (where to capture the new blank from)\n", program)
		return ExitUsage
	}
	if strings.HasSuffix(*blankFrom, TempSuffix) {
		fmt.Fprintf(env.Stderr, "%s: --blank-from %s: a name ending in %s is a leftover that provision removes\n", program, *blankFrom, TempSuffix)
		return ExitUsage
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg, err := job.LoadConfig(*cfgPath, *builtin)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return ExitFailure
	}
	dev := cfg.Device
	if *device != "" {
		dev = *device
	}
	top := *mount
	if top == "" {
		var unmount func() error
		top, unmount, err = btrfs.MountTopLevel(dev, env.runDir(), "provision", *dryRun)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			return ExitFailure
		}
		defer func() {
			if err := unmount(); err != nil {
				fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			}
		}()
	}
	var opts []btrfs.Option
	if env.Mountinfo != "" {
		opts = append(opts, btrfs.WithMountinfo(env.Mountinfo))
	}
	fsys, err := btrfs.Open(top, opts...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return ExitFailure
	}
	defer fsys.Close()
	if !*dryRun {
		// Observe and change under the lock, so the plan is still true when
		// it is carried out and no other job sees a half-done change.
		l, err := lock.Acquire(ctx, env.lockDir(), fsys.FSID().String(), "provision", *lockWait, log)
		if err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			return ExitFailure
		}
		defer l.Release()
	}

	obs, err := Observe(fsys, Paths(cfg))
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return ExitFailure
	}
	plan := Plan(cfg, obs, Options{BlankFrom: *blankFrom, ReplaceBlank: *replace})
	out := report{Device: dev, DryRun: *dryRun, Result: plan}
	code := ExitOK
	if !*dryRun {
		record, closeAudit := env.auditor(log)
		out.Done, err = Apply(ctx, fsys, plan.Actions, log, record)
		closeAudit()
		if err != nil {
			out.Error = err.Error()
			code = ExitFailure
		}
		if out.Layout, err = Layout(cfg, fsys); err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
			code = ExitFailure
		}
	}
	if code == ExitOK && len(plan.Mismatches) > 0 {
		code = ExitMismatch
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return ExitFailure
		}
	} else {
		out.print(env.Stdout)
	}
	if out.Error != "" {
		fmt.Fprintf(env.Stderr, "%s: %s (%d of %d steps done; run again to finish)\n", program, out.Error, out.Done, len(plan.Actions))
	}
	return code
}

// auditor returns what Apply records each change with: an audit event,
// and a warning in the log for a failure; and what closes the log.
func (e Env) auditor(log *slog.Logger) (Record, func()) {
	if e.AuditPath == "" {
		return nil, func() {}
	}
	a, err := audit.Open(e.AuditPath)
	if err != nil {
		log.Warn("audit log unavailable", "error", err)
		return nil, func() {}
	}
	record := func(act Action, took time.Duration, err error) {
		ev := audit.Event{Time: time.Now(), Job: "provision", Action: string(act.Op), Path: act.Path,
			Result: audit.ResultSuccess, Duration: took.Seconds()}
		if err != nil {
			ev.Result, ev.Error = audit.ResultFailure, err.Error()
		}
		if err := a.Append(ev); err != nil {
			log.Warn("audit log", "error", err)
		}
	}
	return record, func() { a.Close() }
}

func (e Env) lockDir() string {
	if e.LockDir != "" {
		return e.LockDir
	}
	return filepath.Join(e.runDir(), "lock")
}

func (e Env) runDir() string {
	if e.RunDir != "" {
		return e.RunDir
	}
	return "/run/server-impermanence"
}

// LayoutRow is one configured subvolume as it is on disk.
type LayoutRow struct {
	Path        string `json:"path"`
	ID          uint64 `json:"id"`
	Role        string `json:"role"`
	Mountpoint  string `json:"mountpoint,omitempty"`
	ReadOnly    bool   `json:"read_only"`
	NoCoW       bool   `json:"nocow"`
	Compression string `json:"compression"`
}

// Layout lists the configured subvolumes, blanks and the snapshots
// subvolume as they exist on fsys.
func Layout(cfg *config.Config, fsys *btrfs.FS) ([]LayoutRow, error) {
	subs, err := fsys.List()
	if err != nil {
		return nil, err
	}
	ids := map[string]uint64{}
	for _, s := range subs {
		ids[s.Path] = s.ID
	}
	roles := map[string]LayoutRow{cfg.Snapshots.Dir: {Role: "snapshots", Mountpoint: config.SnapshotsMountpoint}}
	for _, s := range cfg.Subvolumes {
		roles[s.Name] = LayoutRow{Role: string(s.Class), Mountpoint: s.Mountpoint}
		if s.Class == config.Ephemeral && s.Blank != "" {
			roles[s.Blank] = LayoutRow{Role: "blank of " + s.Name}
		}
	}
	var rows []LayoutRow
	for p, r := range roles {
		id, ok := ids[p]
		if !ok {
			continue
		}
		e, err := observe(fsys, p)
		if err != nil {
			return nil, err
		}
		r.Path, r.ID, r.ReadOnly, r.NoCoW, r.Compression = p, id, e.ReadOnly, e.NoCoW, e.Compression
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	return rows, nil
}

type report struct {
	Device string `json:"device"`
	DryRun bool   `json:"dry_run"`
	Result
	Done   int         `json:"done"`
	Error  string      `json:"error,omitempty"`
	Layout []LayoutRow `json:"layout,omitempty"`
}

func (r report) print(w io.Writer) {
	verb := "provision"
	if r.DryRun {
		verb = "would provision (dry run)"
	}
	if len(r.Actions) == 0 {
		fmt.Fprintf(w, "%s: nothing to create on %s\n", program, r.Device)
	} else {
		fmt.Fprintf(w, "%s: %s %d item(s) on %s:\n", program, verb, len(r.Actions), r.Device)
		for _, a := range r.Actions {
			fmt.Fprintf(w, "  %s\n", a)
		}
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "mismatch: %s\n", m)
	}
	if len(r.Layout) == 0 {
		return
	}
	fmt.Fprintln(w, "layout:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ID\tSUBVOLUME\tROLE\tMOUNTPOINT\tRO\tNOCOW\tCOMPRESSION")
	for _, l := range r.Layout {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Path, l.Role, dash(l.Mountpoint),
			yesNo(l.ReadOnly), yesNo(l.NoCoW), dash(l.Compression))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
