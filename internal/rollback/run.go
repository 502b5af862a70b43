package rollback

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // failed or refused: the previous state is in place
	ExitUsage   = 2
)

const program = "impermanence-rollback"

// Job is the job name in state, audit log and lock.
const Job = "rollback"

// Env is what Run needs from the host. Every host path is below Root.
type Env struct {
	Stdout, Stderr io.Writer
	// Root re-roots /proc, /sys, /dev and /run; "" is "/".
	Root string
	// Now is the clock, read once; default time.Now.
	Now func() time.Time
	// Mountinfo overrides <Root>/proc/self/mountinfo.
	Mountinfo string
	// AuditLog overrides the audit log path (see auditPath).
	AuditLog string
	// JournalEnabled overrides the journal detection (tests).
	JournalEnabled func() bool
	// Stop is the test hook: asked after every step, true stops the run.
	Stop func(step string) bool
}

func (e Env) path(p string) string { return filepath.Join(e.root(), p) }

func (e Env) root() string {
	if e.Root == "" {
		return "/"
	}
	return e.Root
}

// RunDir is where the rollback keeps its record, its lock and its private
// mount: /run/server-impermanence survives the switch to the host root.
func (e Env) RunDir() string { return e.path(state.RunDir) }

const usage = `Usage: impermanence-rollback [options]

Resets every ephemeral subvolume from its blank and archives (or deletes) the
previous state, then prunes old archives. Run in the initrd by
server-impermanence-setup.service before the root is mounted.

Skipped when the kernel command line has server-impermanence.rollback=0 or
when a hibernation image waits to be resumed. Refuses, leaving everything as
it is, when the configuration is invalid, a blank is missing or writable, a
target is or contains permanent data, or free space is short.

Options:
`

// Result is what the run did (--json prints it; the state record holds it).
type Result struct {
	Device       string   `json:"device"`
	DryRun       bool     `json:"dry_run"`
	Result       string   `json:"result"`
	Error        string   `json:"error,omitempty"`
	What         []string `json:"what_to_do,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	ConfigSHA256 string   `json:"config_sha256,omitempty"`
	BootID       string   `json:"boot_id,omitempty"`
	Plan         *Plan    `json:"plan,omitempty"`
	Done         int      `json:"steps_done"`
	// Restores are the restores staged with impermanence-restore
	// --next-boot that this run performed (or tried: see their Error).
	Restores []restore.Performed `json:"restores,omitempty"`
	Duration float64             `json:"duration"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env Env) int {
	flags := flag.NewFlagSet(program, flag.ContinueOnError)
	flags.SetOutput(env.Stderr)
	var (
		cfgPath     = flags.String("config", config.DefaultPath, "configuration `file` (drop-ins from config.d/ next to it)")
		builtin     = flags.Bool("default", false, "use the built-in default configuration")
		device      = flags.String("device", "", "btrfs `device` (default: from the configuration)")
		mount       = flags.String("mount", "", "use this mounted top level (subvolid=5) `dir` instead of mounting the device")
		dryRun      = flags.Bool("dry-run", false, "print the plan and change nothing")
		asJSON      = flags.Bool("json", false, "print the result as JSON")
		minFree     = flags.Uint64("min-free", 128, "refuse when less than this many `MiB` are free")
		lockTimeout = flags.Duration("lock-timeout", 60*time.Second, "how long to wait for another job on the filesystem")
		version     = flags.Bool("version", false, "print the version and exit")
	)
	flags.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		flags.PrintDefaults()
		fmt.Fprint(env.Stderr, "\nExit status: 0 done, nothing to do or skipped; 1 failed or refused (the previous state is in place); 2 usage error.\n")
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
	clock := env.Now
	if clock == nil {
		clock = time.Now
	}
	r := runner{env: env, clock: clock, now: clock(), res: Result{DryRun: *dryRun}}
	r.log = journal.New(journal.Options{Identifier: program, Stderr: env.Stderr, Enabled: env.JournalEnabled})
	r.res.BootID = r.bootID()
	r.log = r.log.With("job", Job)
	code := r.run(ctx, opts{cfgPath: *cfgPath, builtin: *builtin, device: *device, mount: *mount,
		dryRun: *dryRun, minFree: *minFree << 20, lockTimeout: *lockTimeout})
	r.res.Duration = clock().Sub(r.now).Seconds()
	r.finish()
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r.res)
	} else {
		r.print(env.Stdout)
	}
	if r.res.Error != "" {
		fmt.Fprintf(env.Stderr, "%s: %s\n", program, r.res.Error)
		for _, w := range r.res.What {
			fmt.Fprintf(env.Stderr, "%s: what to do: %s\n", program, w)
		}
	}
	return code
}

type opts struct {
	cfgPath, device, mount string
	builtin, dryRun        bool
	minFree                uint64
	lockTimeout            time.Duration
}

type runner struct {
	env   Env
	clock func() time.Time
	now   time.Time
	log   *slog.Logger
	res   Result
	audit *audit.Log
	// auditPath is where the audit log goes once the top level is mounted.
	auditPath string
}

func (r *runner) run(ctx context.Context, o opts) int {
	line, _ := os.ReadFile(r.env.path("proc/cmdline"))
	if RollbackDisabled(string(line)) {
		return r.skip("emergency switch " + SwitchParam + "=0 on the kernel command line")
	}
	cfg, sum, err := loadConfig(o.cfgPath, o.builtin)
	r.res.ConfigSHA256 = sum
	if err != nil {
		r.res.What = []string{"fix the configuration (server-impermanence-generator --check), then rebuild the initrd (it carries its own copy)"}
		return r.refuse(err, msgid.RollbackSkipped)
	}
	if yes, why := Resuming(r.env.root(), string(line)); yes {
		return r.skip(why)
	}
	r.res.Device = cfg.Device
	if o.device != "" {
		r.res.Device = o.device
	}
	top := o.mount
	if top == "" {
		var unmount func() error
		top, unmount, err = btrfs.MountTopLevel(r.res.Device, r.env.RunDir(), "rollback", o.dryRun)
		if err != nil {
			return r.fail(err)
		}
		defer func() {
			if err := unmount(); err != nil {
				r.log.Warn("unmount top level failed", "error", err)
			}
		}()
	}
	var bopts []btrfs.Option
	if r.env.Mountinfo != "" {
		bopts = append(bopts, btrfs.WithMountinfo(r.env.Mountinfo))
	}
	fsys, err := btrfs.Open(top, bopts...)
	if err != nil {
		return r.fail(err)
	}
	defer fsys.Close()
	r.auditPath = r.env.AuditLog
	if r.auditPath == "" {
		r.auditPath = auditPath(cfg, top, r.env.RunDir())
	}
	if !o.dryRun {
		l, err := lock.Acquire(ctx, filepath.Join(r.env.RunDir(), "lock"), fsys.FSID().String(), Job, o.lockTimeout, r.log)
		if err != nil {
			return r.fail(err)
		}
		defer l.Release()
	}
	obs, err := Observe(fsys, cfg)
	if err != nil {
		return r.fail(err)
	}
	opt := Options{Now: r.now, BootID: r.res.BootID, MinFree: o.minFree}
	if errs := Check(cfg, obs, opt); len(errs) > 0 {
		var what []string
		for _, e := range errs {
			var re *RefusalError
			if errors.As(e, &re) && re.What != "" {
				what = append(what, re.What)
			}
		}
		r.res.What = what
		return r.refuse(errors.Join(errs...), msgid.RollbackFailed)
	}
	plan := Build(cfg, obs, opt)
	r.res.Plan = &plan
	for _, w := range plan.Warnings {
		r.log.Warn(w)
	}
	for _, rp := range plan.Repairs {
		r.log.Warn("repairing an interrupted rollback", "repair", rp)
	}
	if o.dryRun {
		r.res.Result = "dry-run"
		return ExitOK
	}
	if err := r.openAudit(); err != nil {
		r.log.Warn("audit log unavailable", "error", err)
	}
	stop := r.env.Stop
	if h, ok := cmdline.Parse(string(line)).HaltAfter(true); ok && stop == nil {
		stop = r.haltAfter(ctx, h, fsys)
	}
	a := Applier{Ops: fsOps{fsys}, Log: r.log, Audit: r.audit, Stop: stop, Now: r.clock, BootID: r.res.BootID}
	r.res.Done, err = a.Apply(plan.Steps)
	if err != nil {
		if errors.Is(err, ErrStopped) {
			r.res.Result, r.res.Error = "stopped", err.Error()
			return ExitFailure
		}
		r.res.What = []string{"the root is bootable (S is always whole); the next boot finishes the rollback, or run impermanence-rollback again"}
		return r.fail(err)
	}
	r.res.Result = state.ResultSuccess
	r.log.Info(fmt.Sprintf("rollback done: %d subvolume(s) reset, %d archived, %d archive(s) pruned",
		len(cfg.Ephemeral()), len(plan.Archives), countDeletes(plan.Prune)),
		journal.MessageID(msgid.RollbackDone), "archives", strings.Join(plan.Archives, " "),
		"duration", r.clock().Sub(r.now))
	r.applyRestoreRequests(fsys, cfg)
	return ExitOK
}

// applyRestoreRequests performs the restores staged with impermanence-restore
// --next-boot. This is their moment: the lock is held and, in the initrd,
// none of the permanent subvolumes is mounted yet. A request that fails stays
// staged and is logged; it never fails the rollback, which is done.
func (r *runner) applyRestoreRequests(fsys *btrfs.FS, cfg *config.Config) {
	mounted, err := fsys.MountedSubvolumes()
	if err == nil {
		r.res.Restores, err = restore.ApplyRequests(fsys, cfg, mounted, r.now)
	}
	for _, p := range r.res.Restores {
		if p.Error == "" {
			r.log.Info(fmt.Sprintf("staged restore of %s from %s done", p.Request.Subvolume, p.Request.Snapshot),
				journal.MessageID(msgid.RestoreDone), "subvolume", p.Request.Subvolume, "snapshot", p.Request.Snapshot)
		}
	}
	if err != nil {
		r.log.Warn("staged restore not applied; it stays staged (impermanence-restore --cancel drops it)", "error", err)
	}
}

func countDeletes(ds []Decision) int {
	n := 0
	for _, d := range ds {
		if d.Delete {
			n++
		}
	}
	return n
}

// haltAfter is the power-cut test switch (cmdline.HaltAfterKey): after the
// chosen step it commits when asked to, says so on the console through
// /dev/console (the test host watches the serial console; /dev/kmsg is
// closed to the unit by ProtectKernelLogs=) and in the journal,
// then waits until it is killed or stopped; the run ends as "stopped", which
// leaves a state the next boot repairs, as after a crash.
func (r *runner) haltAfter(ctx context.Context, h cmdline.HaltAfter, fsys *btrfs.FS) func(string) bool {
	return func(step string) bool {
		num, desc, _ := strings.Cut(step, " ")
		n, _ := strconv.Atoi(num)
		if !h.Matches(n, desc) {
			return false
		}
		if h.Sync {
			if err := fsys.Commit(); err != nil {
				r.log.Warn("debug halt: commit failed", "error", err)
			}
		}
		msg := fmt.Sprintf("debug halt after step %d (%s), sync=%t: waiting for the power cut (%s)", n, desc, h.Sync, cmdline.HaltAfterKey)
		r.log.Warn(msg, "step", n)
		if f, err := os.OpenFile(r.env.path("dev/console"), os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			fmt.Fprintf(f, "%s: %s\n", program, msg)
			f.Close()
		}
		<-ctx.Done()
		return true
	}
}

func (r *runner) skip(reason string) int {
	r.res.Result, r.res.Reason = state.ResultSkipped, reason
	r.log.Warn("rollback skipped: "+reason, journal.MessageID(msgid.RollbackSkipped), "reason", reason)
	return ExitOK
}

func (r *runner) refuse(err error, id string) int {
	r.res.Result, r.res.Error = state.ResultRefused, err.Error()
	r.log.Error("rollback refused, the previous state is left in place: "+err.Error(), journal.MessageID(id))
	return ExitFailure
}

func (r *runner) fail(err error) int {
	r.res.Result, r.res.Error = state.ResultFailure, err.Error()
	r.log.Error("rollback failed: "+err.Error(), journal.MessageID(msgid.RollbackFailed))
	return ExitFailure
}

func (r *runner) openAudit() error {
	if r.audit != nil {
		return nil
	}
	p := r.auditPath
	if p == "" {
		p = filepath.Join(r.env.RunDir(), "audit.jsonl")
	}
	l, err := audit.Open(p)
	if err == nil {
		r.audit = l
	}
	return err
}

// finish appends the run's audit event and writes the state record (not for
// a dry run).
func (r *runner) finish() {
	if r.res.DryRun {
		return
	}
	if err := r.openAudit(); err != nil {
		r.log.Warn("audit log unavailable", "error", err)
	}
	if r.audit != nil {
		e := audit.Event{Time: r.now, Job: Job, Action: "run", Result: r.res.Result, Duration: r.res.Duration,
			Error: r.res.Error, BootID: r.res.BootID}
		if r.res.Reason != "" && e.Error == "" {
			e.Error = r.res.Reason
		}
		if err := r.audit.Append(e); err != nil {
			r.log.Warn("audit log append failed", "error", err)
		}
		r.audit.Close()
	}
	details, _ := json.Marshal(r.res)
	rec := state.Record{Job: Job, Duration: r.res.Duration, Result: r.res.Result, Error: r.res.Error,
		ConfigSHA256: r.res.ConfigSHA256, Details: details}
	if r.res.Plan != nil {
		rec.Counters = map[string]int64{"archived": int64(len(r.res.Plan.Archives)),
			"pruned": int64(countDeletes(r.res.Plan.Prune)), "repairs": int64(len(r.res.Plan.Repairs)),
			"steps": int64(r.res.Done)}
	}
	if err := state.Finish(r.env.RunDir(), rec, r.now); err != nil {
		r.log.Warn("state record not written", "error", err)
	}
}

func (r *runner) bootID() string {
	b, err := os.ReadFile(r.env.path("proc/sys/kernel/random/boot_id"))
	id := strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")
	if err == nil && len(id) >= 8 && isHex(id[:8]) {
		return strings.ToLower(id[:8])
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	r.log.Warn("boot id unavailable, archive names use a random suffix", "error", err)
	return hex.EncodeToString(rnd[:])
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// loadConfig loads the configuration and returns the SHA-256 of its
// sources (each file's name, a NUL, its content, a NUL, in merge order).
func loadConfig(path string, builtin bool) (*config.Config, string, error) {
	var srcs []config.Source
	if builtin {
		srcs = []config.Source{{Name: "<built-in default>", Data: config.DefaultTOML()}}
	} else {
		var err error
		if srcs, err = config.ReadSources(path); err != nil {
			return nil, "", err
		}
	}
	h := sha256.New()
	for _, s := range srcs {
		h.Write([]byte(s.Name))
		h.Write([]byte{0})
		h.Write(s.Data)
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))
	cfg, err := config.Parse(srcs...)
	if err != nil {
		return nil, sum, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, sum, nil
}

// auditPath is the audit log the rollback appends to. In the initrd the host's
// /var/log is not mounted yet, so it writes into the permanent subvolume that
// will be mounted at /var/log (or /var), through the top level; without one
// it keeps the log in the run dir, which the host can read after switch-root.
func auditPath(cfg *config.Config, top, runDir string) string {
	const rel = "/var/log/server-impermanence/audit.jsonl"
	best := ""
	var name string
	for _, s := range cfg.Subvolumes {
		if s.Class != config.Permanent || s.Mountpoint == "/" {
			continue
		}
		if strings.HasPrefix(rel, s.Mountpoint+"/") && len(s.Mountpoint) > len(best) {
			best, name = s.Mountpoint, s.Name
		}
	}
	if best == "" {
		return filepath.Join(runDir, "audit.jsonl")
	}
	return filepath.Join(top, filepath.FromSlash(path.Join(name, strings.TrimPrefix(rel, best))))
}

func (r *runner) print(w io.Writer) {
	res := r.res
	switch {
	case res.Result == state.ResultSkipped:
		fmt.Fprintf(w, "%s: skipped: %s\n", program, res.Reason)
		return
	case res.Plan == nil:
		return
	}
	p := res.Plan
	verb := "done"
	if res.DryRun {
		verb = "plan (dry run, nothing changed)"
	}
	fmt.Fprintf(w, "%s: %s on %s, %d step(s):\n", program, verb, res.Device, len(p.Steps))
	for _, rp := range p.Repairs {
		fmt.Fprintf(w, "  repair: %s\n", rp)
	}
	for i, s := range p.Steps {
		mark := "  "
		if !res.DryRun && i >= res.Done {
			mark = "✗ "
		}
		fmt.Fprintf(w, "%s%2d. %s\n", mark, i+1, s)
	}
	for _, a := range p.Archives {
		fmt.Fprintf(w, "  archive: %s\n", a)
	}
	for _, d := range p.Prune {
		verdict := "keep  "
		if d.Delete {
			verdict = "delete"
		}
		fmt.Fprintf(w, "  %s %s (%s)\n", verdict, d.Path, d.Reason)
	}
	for _, m := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
	for _, rs := range res.Restores {
		if rs.Error != "" {
			fmt.Fprintf(w, "  staged restore of %s from %s: failed, still staged: %s\n", rs.Request.Subvolume, rs.Request.Snapshot, rs.Error)
			continue
		}
		fmt.Fprintf(w, "  staged restore of %s from %s: done\n", rs.Request.Subvolume, rs.Request.Snapshot)
	}
}
