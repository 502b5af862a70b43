package rollback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/configsum"
	"github.com/server-impermanence/server-impermanence/internal/inventory"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

const program = "impermanence-rollback"

// Job is the job name in state, audit log and lock.
const Job = "rollback"

// lockTimeout is the rollback's default --lock-timeout: at boot it waits
// briefly, since nothing else should run then.
const lockTimeout = time.Minute

// Env is what Run needs from the host: the helpers' environment (every host
// path beneath its Root, the clock) and the rollback's test hooks.
type Env struct {
	job.Env
	// AuditLog overrides the audit log path (see auditPath).
	AuditLog string
	// Stop is the test hook: asked after every step, true stops the run.
	Stop func(step string) bool
}

const usage = `Usage: impermanence-rollback [options]

Resets every ephemeral subvolume from its blank and archives (or deletes) the
previous state, then prunes old archives. Run in the initrd by
server-impermanence-setup.service before the root is mounted.

Each blank is the configured one, unless the kernel command line has
server-impermanence.blank=previous|<name> (the root's former blank, for one
boot; an unknown name is a warning, never a refusal), a newly committed blank
is on a trial boot (counted in the trial file), or it failed its [blank]
tries trial boots (the previous good blank: a fallback).

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
	// Blanks are the blanks this boot reset from, with why (a former one
	// the command line asked for, a trial, a fallback).
	Blanks []blanks.Choice `json:"blanks,omitempty"`
	Done   int             `json:"steps_done"`
	// Restores are the restores staged with impermanence-restore
	// --next-boot that this run performed (or tried: see their Error).
	Restores []restorereq.Performed `json:"restores,omitempty"`
	Duration float64                `json:"duration"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env Env) int {
	env.Env = env.Env.WithDefaults().ShowPaths()
	flags := flag.NewFlagSet(program, flag.ContinueOnError)
	flags.SetOutput(env.Stderr)
	f := job.Flags{LockTimeout: lockTimeout}
	f.Register(flags, true)
	minFree := flags.Uint64("min-free", 128, "refuse when less than this many `MiB` are free")
	flags.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		flags.PrintDefaults()
		fmt.Fprint(env.Stderr, "\nExit status: 0 done, nothing to do or skipped; 1 failed or refused (the previous state is in place); 2 usage error.\n")
	}
	if done, code := job.ParseFlags(flags, args, &f, env.Env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, flags.Arg(0))
		return job.ExitUsage
	}
	s := job.Begin(ctx, env.Env, program, Job)
	s.Records = !f.DryRun
	// The record goes to the run directory: it survives the switch to the
	// host root, where the exporter reads it.
	s.StateDir = env.RunDir()
	s.LogWithJob()
	r := runner{env: env, s: s, res: Result{DryRun: f.DryRun}}
	r.res.BootID = r.bootID()
	code := r.run(ctx, f, *minFree<<20)
	if s.FS != nil && !f.DryRun {
		// The exporter mounts no top level: the archive dir's inventory
		// goes beside the record, whatever the run did.
		if err := inventory.Record(s.FS, s.Config, s.StateDir, Job, env.Now()); err != nil {
			s.Log.Warn("archive inventory not recorded", "error", err)
		}
	}
	r.res.Duration = env.Now().Sub(s.Start).Seconds()
	r.finish()
	if err := s.Close(); err != nil {
		s.Log.Warn("closing the top level failed", "error", err)
	}
	job.Print(env.Stdout, f.JSON, r.res, r.print)
	if r.res.Error != "" {
		fmt.Fprintf(env.Stderr, "%s: %s\n", program, r.res.Error)
		for _, w := range r.res.What {
			fmt.Fprintf(env.Stderr, "%s: what to do: %s\n", program, w)
		}
	}
	return code
}

type runner struct {
	env Env
	s   *job.Session
	res Result
	// auditPath is where the audit log goes once the top level is mounted.
	auditPath string
	// blankEvents are the audit events of the blank choice, written once
	// the audit log is open.
	blankEvents []audit.Event
}

func (r *runner) run(ctx context.Context, f job.Flags, minFree uint64) int {
	line, _ := os.ReadFile(r.env.Path("proc/cmdline"))
	if RollbackDisabled(string(line)) {
		return r.skip("emergency switch " + SwitchParam + "=0 on the kernel command line")
	}
	cfg, sum, err := loadConfig(f.Config, f.Default)
	r.res.ConfigSHA256 = sum
	if err != nil {
		r.res.What = []string{"fix the configuration (server-impermanence-generator --check), then rebuild the initrd (it carries its own copy)"}
		return r.refuse(err, msgid.RollbackSkipped)
	}
	r.s.Config = cfg
	if yes, why := Resuming(r.env.Root, string(line)); yes {
		return r.skip(why)
	}
	err = r.s.Reach(f, f.DryRun)
	r.res.Device = r.s.Device
	if err != nil {
		return r.fail(err)
	}
	fsys := r.s.FS
	r.auditPath = r.env.AuditLog
	if r.auditPath == "" {
		r.auditPath = auditPath(cfg, fsys.Mountpoint(), r.env.RunDir())
	}
	if !f.DryRun {
		if err := r.s.Writable(); err != nil {
			return r.fail(err)
		}
		if err := r.s.Lock(ctx, f.LockTimeout); err != nil {
			return r.fail(err)
		}
	}
	r.s.Now = r.env.Now() // the rollback's time: once the lock is held
	obs, err := Observe(fsys, cfg)
	if err != nil {
		return r.fail(err)
	}
	opt := Options{Now: r.s.Now, BootID: r.res.BootID, MinFree: minFree}
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
	opt.Blanks = r.chooseBlanks(fsys, cfg, obs, string(line), f.DryRun)
	plan := Build(cfg, obs, opt)
	r.res.Plan = &plan
	for _, w := range plan.Warnings {
		r.s.Log.Warn(w)
	}
	for _, rp := range plan.Repairs {
		r.s.Log.Warn("repairing an interrupted rollback", "repair", rp)
	}
	if f.DryRun {
		r.res.Result = "dry-run"
		return job.ExitOK
	}
	r.openAudit()
	for _, e := range r.blankEvents {
		r.s.AuditEvent(e)
	}
	hook := r.env.Stop
	if h, ok := cmdline.Parse(string(line)).HaltAfter(true); ok && hook == nil {
		hook = r.haltAfter(ctx, h, fsys)
	}
	// A signal (a unit timeout, a shutdown) stops the run at the next safe
	// point: the reset of the subvolume in progress finishes (a few
	// renames and property changes; a forced stop ends a run that cannot
	// within job's grace, and every state between two steps is one the
	// next boot repairs).
	a := Applier{Ops: fsOps{fsys}, Log: r.s.Log, Audit: r.s.Audit, Stop: hook, Now: r.env.Now, BootID: r.res.BootID,
		Signalled: func() bool { return job.Stopped(ctx) != nil }}
	r.res.Done, err = a.Apply(plan.Steps)
	if err != nil {
		if errors.Is(err, ErrStopped) {
			r.res.Result, r.res.Error = "stopped", err.Error()
			if serr := job.Stopped(ctx); serr != nil {
				r.res.Error = fmt.Sprintf("%v after step %d of %d; the next boot finishes the rollback", serr, r.res.Done, len(plan.Steps))
			}
			return job.ExitFailure
		}
		r.res.What = []string{"the root is bootable (S is always whole); the next boot finishes the rollback, or run impermanence-rollback again"}
		return r.fail(err)
	}
	r.res.Result = state.ResultSuccess
	if err := blanks.WriteStatus(r.env.RunDir(), blanks.Status{BootID: r.res.BootID, Choices: r.res.Blanks}); err != nil {
		r.s.Log.Warn("blank status not recorded", "error", err)
	}
	r.s.Log.Info(fmt.Sprintf("rollback done: %d subvolume(s) reset, %d archived, %d archive(s) pruned",
		len(cfg.Ephemeral()), len(plan.Archives), countDeletes(plan.Prune)),
		journal.MessageID(msgid.RollbackDone), "archives", strings.Join(plan.Archives, " "),
		"duration", r.env.Now().Sub(r.s.Start))
	r.applyRestoreRequests(fsys, cfg)
	return job.ExitOK
}

// applyRestoreRequests performs the restores staged with impermanence-restore
// --next-boot. This is their moment: the lock is held and, in the initrd,
// none of the permanent subvolumes is mounted yet. A request that fails stays
// staged and is logged; it never fails the rollback, which is done.
func (r *runner) applyRestoreRequests(fsys *btrfs.FS, cfg *config.Config) {
	mounted, err := fsys.MountedSubvolumes()
	if err == nil {
		r.res.Restores, err = restorereq.ApplyRequests(fsys, cfg, mounted, r.s.Now)
	}
	for _, p := range r.res.Restores {
		// audited as impermanence-restore --apply-requests audits it: the
		// swap of a permanent subvolume is in the audit log whichever
		// performed it
		ev := audit.Event{Action: "restore-staged", Subvolume: p.Request.Subvolume, Path: p.Request.Snapshot, Result: audit.ResultSuccess}
		if p.Error == "" {
			r.s.Log.Info(fmt.Sprintf("staged restore of %s from %s done", p.Request.Subvolume, p.Request.Snapshot),
				journal.MessageID(msgid.RestoreDone), "subvolume", p.Request.Subvolume, "snapshot", p.Request.Snapshot)
		} else {
			ev.Result, ev.Error = audit.ResultFailure, p.Error
		}
		r.s.AuditEvent(ev)
	}
	if err != nil {
		r.s.Log.Warn("staged restore not applied; it stays staged (impermanence-restore --cancel drops it)", "error", err)
	}
}

func countDeletes(ds []retention.ArchiveDecision) int {
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
				r.s.Log.Warn("debug halt: commit failed", "error", err)
			}
		}
		msg := fmt.Sprintf("debug halt after step %d (%s), sync=%t: waiting for the power cut (%s)", n, desc, h.Sync, cmdline.HaltAfterKey)
		r.s.Log.Warn(msg, "step", n)
		if f, err := os.OpenFile(r.env.Path("dev/console"), os.O_WRONLY|unix.O_NOCTTY, 0); err == nil {
			fmt.Fprintf(f, "%s: %s\n", program, msg)
			f.Close()
		}
		<-ctx.Done()
		return true
	}
}

func (r *runner) skip(reason string) int {
	r.res.Result, r.res.Reason = state.ResultSkipped, reason
	r.s.Log.Warn("rollback skipped: "+reason, journal.MessageID(msgid.RollbackSkipped), "reason", reason)
	return job.ExitOK
}

func (r *runner) refuse(err error, id string) int {
	r.res.Result, r.res.Error = state.ResultRefused, err.Error()
	r.s.Log.Error("rollback refused, the previous state is left in place: "+err.Error(), journal.MessageID(id))
	return job.ExitFailure
}

func (r *runner) fail(err error) int {
	r.res.Result, r.res.Error = state.ResultFailure, err.Error()
	r.s.Log.Error("rollback failed: "+err.Error(), journal.MessageID(msgid.RollbackFailed))
	return job.ExitFailure
}

// openAudit opens the audit log: where auditPath says once the top level
// is reached, else in the run directory.
func (r *runner) openAudit() {
	p := r.auditPath
	if p == "" {
		p = filepath.Join(r.env.RunDir(), "audit.jsonl")
	}
	r.s.OpenAudit(p)
}

// finish appends the run's audit event and writes the state record (not for
// a dry run), still under the lock.
func (r *runner) finish() {
	if r.res.DryRun {
		return
	}
	r.openAudit()
	e := audit.Event{Time: r.s.Start, Action: "run", Result: r.res.Result, Duration: r.res.Duration,
		Error: r.res.Error, BootID: r.res.BootID}
	if r.res.Reason != "" && e.Error == "" {
		e.Error = r.res.Reason
	}
	r.s.AuditEvent(e)
	details, _ := json.Marshal(r.res)
	rec := state.Record{Duration: r.res.Duration, Result: r.res.Result, Error: r.res.Error,
		ConfigSHA256: r.res.ConfigSHA256, Details: details}
	if r.res.Plan != nil {
		rec.Counters = map[string]int64{"archived": int64(len(r.res.Plan.Archives)),
			"pruned": int64(countDeletes(r.res.Plan.Prune)), "repairs": int64(len(r.res.Plan.Repairs)),
			"steps": int64(r.res.Done)}
	}
	r.s.Record(rec)
}

func (r *runner) bootID() string {
	b, err := os.ReadFile(r.env.Path("proc/sys/kernel/random/boot_id"))
	if id, ok := names.BootID(string(b)); err == nil && ok {
		return id
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	r.s.Log.Warn("boot id unavailable, archive names use a random suffix", "error", err)
	return hex.EncodeToString(rnd[:])
}

// loadConfig loads the configuration and returns the digest of its sources
// (configsum.Sum, which the exporter compares with /etc's to report a stale
// initrd).
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
	sum := configsum.Sum(srcs)
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
	for _, c := range res.Blanks {
		if c.Source != blanks.SourceDefault {
			fmt.Fprintf(w, "  blank of %s: %s (%s: %s)\n", c.Subvolume, c.From, c.Source, c.Reason)
		}
		for _, m := range c.Warnings {
			fmt.Fprintf(w, "warning: %s\n", m)
		}
	}
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
