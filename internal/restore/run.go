package restore

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

const (
	program = "impermanence-restore"
	jobName = "restore"
)

const usage = `Usage: impermanence-restore [options] --from SNAPSHOT SUBVOLUME
       impermanence-restore [options] --from SNAPSHOT --path PATH [--path PATH...]
       impermanence-restore [options] --from-target NAME [--identity FILE] --from SNAPSHOT SUBVOLUME
       impermanence-restore [options] --cancel SUBVOLUME
       impermanence-restore [options] --apply-requests

Restores the permanent SUBVOLUME from one of its snapshots (a name shown by
"impermanence-snapshot list SUBVOLUME", or <snapshots dir>/<subvolume>/<name>):
the current state is first kept as the read-only manual snapshot
<time>-pre-restore, a writable copy of the snapshot is swapped in atomically
(RENAME_EXCHANGE), and the replaced subvolume is kept in
<archive dir>/<subvolume>/<time>-replaced. A mounted SUBVOLUME is refused;
--next-boot stages the swap for the next boot instead. --path restores
single paths by reflink copy into the live subvolume, never overwriting
without --force (the replaced path is kept as PATH.pre-restore-<time>).
--from-target first brings SNAPSHOT back from a target into the snapshots
directory. From a stream target, every stream of its chain is checked
against the target's manifest before any is applied, then each is
decrypted (--identity) and received, in order. From a btrfs target (a
local directory, or an SSH target's impermanence-receive), the target
sends it, incrementally from a snapshot both sides hold where there is
one, and it is received into a scratch subvolume and checked first.

Options:
`

const exitHelp = `
Exit status: 0 done (or staged), 1 refused or failed (the message says why
and what to run instead), 2 usage error.
`

// Result is the output of a run.
type Result struct {
	DryRun    bool                   `json:"dry_run,omitempty"`
	Recovered *restorereq.Recovery   `json:"recovered,omitempty"`
	Swap      *restorereq.Swap       `json:"swap,omitempty"`
	Staged    *restorereq.Request    `json:"staged,omitempty"`
	Cancelled string                 `json:"cancelled,omitempty"`
	Paths     []PathRestore          `json:"paths,omitempty"`
	Performed []restorereq.Performed `json:"performed,omitempty"`
	Fetched   *Fetched               `json:"fetched,omitempty"`
	Mounts    []string               `json:"mounts,omitempty"`
	Units     []Use                  `json:"units,omitempty"`
	Warnings  []string               `json:"warnings,omitempty"`
}

type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

// Options of one run.
type Options struct {
	Subvolume     string
	From          string
	Paths         []string
	NextBoot      bool
	Force         bool
	DryRun        bool
	Cancel        bool
	ApplyRequests bool
	UnitDirs      []string
	// FromTarget and Identity: fetch From from a target first (Identity:
	// a stream target's).
	FromTarget, Identity string
	// Progress shows the fetch from a target on a terminal (nil: off).
	Progress *progress.Meter
	// LockTimeout bounds the wait for the target's lock (lock.Target)
	// that a send to it holds (--lock-timeout).
	LockTimeout time.Duration
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(fl, true)
	var o Options
	var paths pathList
	fl.StringVar(&o.From, "from", "", "the `SNAPSHOT` to restore from")
	fl.StringVar(&o.FromTarget, "from-target", "", "fetch the snapshot from the target `NAME` first (a btrfs target's send received, or a stream target's chain verified and replayed, into the snapshots directory)")
	fl.StringVar(&o.Identity, "identity", "", "with --from-target: the age identity `FILE` that decrypts the target's streams")
	fl.Var(&paths, "path", "restore this live `PATH` only (repeatable), by reflink copy out of the snapshot")
	fl.BoolVar(&o.NextBoot, "next-boot", false, "stage the restore of a mounted subvolume for the next boot")
	fl.BoolVar(&o.Force, "force", false, "with --path: replace existing paths (the current one is kept as PATH.pre-restore-<time>)")
	fl.BoolVar(&o.Cancel, "cancel", false, "cancel the staged restore of SUBVOLUME")
	fl.BoolVar(&o.ApplyRequests, "apply-requests", false, "perform the staged restores (before the subvolumes are mounted)")
	var pf progress.Flags
	pf.Register(fl)
	unitDirs := fl.String("unit-dirs", strings.Join(DefaultUnitDirs, ":"), "`DIRS` (colon-separated) whose unit files name the services that use a restored mountpoint")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	o.Paths, o.DryRun, o.UnitDirs, o.LockTimeout = paths, f.DryRun, strings.Split(*unitDirs, ":"), f.LockTimeout
	if err := o.check(fl.Args()); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitUsage
	}
	// The progress line of a fetch from a target; the log lines (stderr
	// without a journal) go above it.
	var err error
	if o.Progress, env.Stderr, err = pf.Open(env.Stderr, time.Now); err != nil {
		return job.Usage(env, program, "%v", err)
	}
	s, err := job.OpenRun(ctx, env, f, program, jobName, nil)
	if err != nil {
		return job.ExitFailure
	}
	defer s.Close()
	res, err := Do(ctx, s, o)
	job.Print(env.Stdout, f.JSON, res, res.Print)
	if !o.DryRun {
		rec := state.Record{Result: state.ResultSuccess}
		rec.Details, _ = json.Marshal(res)
		if err != nil {
			rec.Result, rec.Error = state.ResultFailure, err.Error()
			if errors.Is(err, errRefused) {
				rec.Result = state.ResultRefused
			}
		}
		s.Record(rec)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		if !o.DryRun {
			s.AuditEvent(audit.Event{Action: "restore", Subvolume: o.Subvolume, Result: audit.ResultFailure, Error: err.Error()})
		}
		return job.ExitFailure
	}
	return job.ExitOK
}

func (o *Options) check(args []string) error {
	modes := 0
	for _, b := range []bool{len(o.Paths) > 0, o.Cancel, o.ApplyRequests} {
		if b {
			modes++
		}
	}
	switch {
	case modes > 1:
		return errors.New("--path, --cancel and --apply-requests exclude each other")
	case o.FromTarget != "" && modes > 0:
		return errors.New("--from-target restores a whole subvolume: not with --path, --cancel or --apply-requests")
	case o.Identity != "" && o.FromTarget == "":
		return errors.New("--identity applies only with --from-target")
	case o.ApplyRequests:
		if len(args) > 0 || o.From != "" {
			return errors.New("--apply-requests takes no SUBVOLUME and no --from")
		}
		return nil
	case len(o.Paths) > 0:
		if len(args) > 0 {
			return errors.New("with --path, give no SUBVOLUME: it follows from each path")
		}
		if o.NextBoot {
			return errors.New("--next-boot applies to a whole subvolume; --path restores into the live, mounted subvolume right away")
		}
	default:
		if len(args) != 1 {
			return errors.New("give one SUBVOLUME (see --help)")
		}
		o.Subvolume = args[0]
	}
	if o.From == "" && !o.Cancel {
		return errors.New("--from SNAPSHOT is required (impermanence-snapshot list shows the snapshots)")
	}
	return nil
}

// errRefused marks a refusal: nothing was changed.
var errRefused = errors.New("refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errRefused, fmt.Sprintf(format, a...))
}

// Do performs the run described by o on s's filesystem.
// Stopped (ctx), it ends before the swap or before the next path: each is
// whole or not begun.
func Do(ctx context.Context, s *job.Session, o Options) (Result, error) {
	res := Result{DryRun: o.DryRun}
	now := s.Now.UTC().Truncate(time.Second)
	switch {
	case o.ApplyRequests:
		return applyRequests(s, o, now)
	case len(o.Paths) > 0:
		return restorePaths(ctx, s, o, now)
	case o.Cancel:
		reqs, err := restorereq.ReadRequests(s.FS.Mountpoint(), s.Config)
		if err != nil {
			return res, err
		}
		if !reqs.Remove(o.Subvolume) {
			return res, refuse("no restore of %s is staged", o.Subvolume)
		}
		res.Cancelled = o.Subvolume
		if o.DryRun {
			return res, nil
		}
		s.AuditEvent(audit.Event{Action: "restore-cancel", Subvolume: o.Subvolume, Path: restorereq.RequestPath(s.Config), Result: audit.ResultSuccess})
		return res, restorereq.WriteRequests(s.FS.Mountpoint(), s.Config, reqs)
	}
	if o.FromTarget != "" {
		f, err := fetchFromTarget(ctx, s, o)
		if err != nil {
			// nothing fetched: the error says why (a fetch line would
			// read as done, "(full: )" for a refused plan)
			return res, err
		}
		res.Fetched = f
		if o.DryRun && !f.Local {
			return res, nil
		}
	}
	r, err := restoreSubvolume(ctx, s, o, now)
	r.Fetched = res.Fetched
	return r, err
}

func restoreSubvolume(ctx context.Context, s *job.Session, o Options, now time.Time) (Result, error) {
	res := Result{DryRun: o.DryRun}
	cfg, fsys := s.Config, s.FS
	sv, ok := cfg.Subvolume(o.Subvolume)
	switch {
	case !ok:
		return res, refuse("subvolume %s is not in the configuration", o.Subvolume)
	case sv.Class == config.Ephemeral:
		return res, refuse("%s is ephemeral: the next boot resets it from its blank, so a restore would not last; restore the paths you need into a persisted path with --path", sv.Name)
	case sv.Name == cfg.Snapshots.Dir:
		return res, refuse("%s holds the snapshots and is never restored", sv.Name)
	}
	snap, err := ResolveSnapshot(cfg, sv.Name, o.From)
	if err != nil {
		return res, refuse("%v", err)
	}
	info, err := fsys.Info(snap)
	if err != nil {
		return res, refuse("snapshot %s: %v (impermanence-snapshot list %s shows the snapshots)", snap, err, sv.Name)
	}
	if !o.DryRun {
		rec, err := restorereq.Recover(fsys, cfg, sv.Name, now)
		res.Recovered = rec
		if err != nil {
			return res, err
		}
		if rec != nil {
			s.Log.Warn("repaired an interrupted restore of "+sv.Name+": "+rec.Found+"; "+rec.Action, "subvolume", sv.Name)
			s.AuditEvent(audit.Event{Action: "restore-repair", Subvolume: sv.Name, Path: rec.Path, Result: audit.ResultSuccess})
		}
	}
	cur, err := fsys.Info(sv.Name)
	if err != nil {
		return res, refuse("subvolume %s: %v (create it with impermanence-provision)", sv.Name, err)
	}
	mounted, err := fsys.MountedSubvolumes()
	if err != nil {
		return res, err
	}
	subs, err := fsys.List()
	if err != nil {
		return res, err
	}
	var nested []string
	var mps []string
	for _, m := range mounted[cur.ID] {
		mps = append(mps, m.Mountpoint)
	}
	for _, x := range subs {
		if strings.HasPrefix(x.Path, sv.Name+"/") {
			nested = append(nested, x.Path)
			for _, m := range mounted[x.ID] {
				mps = append(mps, m.Mountpoint)
			}
		}
	}
	res.Mounts = mps
	res.Units = Users(o.UnitDirs, append([]string{sv.Mountpoint}, mps...))
	if len(nested) > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s contains nested subvolumes (%s): a snapshot does not include them, so they stay with the replaced state in %s/%s/", sv.Name, strings.Join(nested, ", "), cfg.Archive.Dir, sv.Name))
	}
	if o.NextBoot {
		req := restorereq.Request{Subvolume: sv.Name, Snapshot: snap, SnapshotID: info.ID, SnapshotUUID: info.UUID, Requested: now}
		res.Staged = &req
		if o.DryRun {
			return res, nil
		}
		reqs, err := restorereq.ReadRequests(fsys.Mountpoint(), cfg)
		if err != nil {
			return res, err
		}
		reqs.Put(req)
		if err := restorereq.WriteRequests(fsys.Mountpoint(), cfg, reqs); err != nil {
			return res, err
		}
		s.Log.Info("restore of "+sv.Name+" from "+snap+" staged for the next boot", "subvolume", sv.Name, "snapshot", snap)
		s.AuditEvent(audit.Event{Action: "restore-stage", Subvolume: sv.Name, Path: snap, Result: audit.ResultSuccess})
		return res, nil
	}
	if len(mps) > 0 {
		stop := "systemctl stop " + strings.Join(unitNames(res.Units), " ")
		if len(res.Units) == 0 {
			stop = "stop what uses it (systemctl list-units; fuser -vm " + mps[0] + ")"
		}
		return res, refuse("%s is mounted at %s: swapping a mounted subvolume would leave the mount on the replaced state while services write to it. Either %s; umount %s; then run this again — or stage it for the next boot: %s --next-boot --from %s %s — or restore single paths: %s --from %s --path PATH",
			sv.Name, strings.Join(mps, ", "), stop, strings.Join(mps, " "), program, o.From, sv.Name, program, o.From)
	}
	w := restorereq.PlanSwap(fsys, cfg, sv.Name, snap, now)
	res.Swap = &w
	if o.DryRun {
		return res, nil
	}
	if err := job.Stopped(ctx); err != nil {
		return res, fmt.Errorf("%w before the restore of %s: nothing changed", err, sv.Name)
	}
	t0 := time.Now()
	err = w.Apply(fsys, func(step, detail string) error {
		s.AuditEvent(audit.Event{Action: "restore-" + step, Subvolume: sv.Name, Path: detail, Result: audit.ResultSuccess})
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("restore %s from %s: %w (the state before is kept in %s; run this again to repair)", sv.Name, snap, err, w.Pre)
	}
	s.Log.Info("restored "+sv.Name+" from "+snap, journal.MessageID(msgid.RestoreDone),
		"subvolume", sv.Name, "snapshot", snap, "pre_restore", w.Pre, "replaced", w.Replaced, "duration", time.Since(t0))
	return res, nil
}

func restorePaths(ctx context.Context, s *job.Session, o Options, now time.Time) (Result, error) {
	res := Result{DryRun: o.DryRun}
	top := s.FS.Mountpoint()
	// Every path is checked before the first is restored.
	for _, p := range o.Paths {
		r, err := PlanPath(s.Config, top, p, o.From, o.Force, now)
		if err != nil {
			return res, refuse("%v", err)
		}
		res.Paths = append(res.Paths, r)
	}
	if o.DryRun {
		return res, nil
	}
	for i, r := range res.Paths {
		if err := job.Stopped(ctx); err != nil {
			return res, errors.Join(fmt.Errorf("%w: %d of %d paths restored", err, i, len(res.Paths)), s.FS.Commit())
		}
		if err := r.Apply(top); err != nil {
			return res, err
		}
		s.AuditEvent(audit.Event{Action: "restore-path", Subvolume: r.Subvolume, Path: r.Path, Result: audit.ResultSuccess})
		s.Log.Info("restored "+r.Path+" from "+r.Snapshot, journal.MessageID(msgid.RestoreDone),
			"subvolume", r.Subvolume, "snapshot", r.Snapshot, "path", r.Path, "aside", r.Aside)
	}
	return res, s.FS.Commit()
}

func applyRequests(s *job.Session, o Options, now time.Time) (Result, error) {
	res := Result{DryRun: o.DryRun}
	if o.DryRun {
		reqs, err := restorereq.ReadRequests(s.FS.Mountpoint(), s.Config)
		for _, q := range reqs.Requests {
			res.Performed = append(res.Performed, restorereq.Performed{Request: q})
		}
		return res, err
	}
	mounted, err := s.FS.MountedSubvolumes()
	if err != nil {
		return res, err
	}
	res.Performed, err = restorereq.ApplyRequests(s.FS, s.Config, mounted, now)
	for _, p := range res.Performed {
		if p.Error == "" {
			s.Log.Info("restored "+p.Request.Subvolume+" from "+p.Request.Snapshot+" (staged)", journal.MessageID(msgid.RestoreDone),
				"subvolume", p.Request.Subvolume, "snapshot", p.Request.Snapshot)
			s.AuditEvent(audit.Event{Action: "restore-staged", Subvolume: p.Request.Subvolume, Path: p.Request.Snapshot, Result: audit.ResultSuccess})
		}
	}
	return res, err
}

func unitNames(us []Use) []string {
	var out []string
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Unit {
			out = append(out, u.Unit)
		}
	}
	return out
}

// Print writes the result for people.
func (r Result) Print(w io.Writer) {
	would := func(s string) string {
		if r.DryRun {
			return "would " + s
		}
		return s
	}
	if f := r.Fetched; f != nil {
		switch {
		case f.Local:
			fmt.Fprintf(w, "%s is in the snapshots directory: nothing fetched from %s\n", f.Snapshot, f.Target)
		case len(f.Streams) > 0:
			fmt.Fprintf(w, "%s %s from %s (%s)\n", would("fetch"), f.Snapshot, f.Target, strings.Join(f.Streams, ", "))
		default:
			fmt.Fprintf(w, "%s %s from %s (%s)\n", would("fetch"), f.Snapshot, f.Target, f.kind())
		}
	}
	if r.Recovered != nil {
		fmt.Fprintf(w, "repaired an interrupted restore: %s; %s\n", r.Recovered.Found, r.Recovered.Action)
	}
	if sw := r.Swap; sw != nil {
		fmt.Fprintf(w, "%s %s as read-only snapshot %s\n", would("keep the current"), sw.Subvolume, sw.Pre)
		fmt.Fprintf(w, "%s %s from %s (copy %s, exchange, commit)\n", would("restore"), sw.Subvolume, sw.Snapshot, sw.Temp)
		fmt.Fprintf(w, "%s the replaced subvolume to %s\n", would("move"), sw.Replaced)
	}
	if q := r.Staged; q != nil {
		fmt.Fprintf(w, "%s the restore of %s from %s for the next boot\n", would("stage"), q.Subvolume, q.Snapshot)
	}
	if r.Cancelled != "" {
		fmt.Fprintf(w, "%s the staged restore of %s\n", would("cancel"), r.Cancelled)
	}
	for _, p := range r.Paths {
		fmt.Fprintf(w, "%s %s from %s", would("restore"), p.Path, p.Snapshot)
		if p.Aside != "" {
			fmt.Fprintf(w, " (the current one kept as %s)", p.Aside)
		}
		fmt.Fprintln(w)
	}
	for _, p := range r.Performed {
		if p.Error != "" {
			fmt.Fprintf(w, "FAILED staged restore of %s from %s: %s\n", p.Request.Subvolume, p.Request.Snapshot, p.Error)
		} else {
			fmt.Fprintf(w, "%s %s from %s (staged %s)\n", would("restore"), p.Request.Subvolume, p.Request.Snapshot, p.Request.Requested.Format(time.RFC3339))
		}
	}
	if len(r.Mounts) > 0 {
		fmt.Fprintf(w, "mounted at: %s\n", strings.Join(r.Mounts, ", "))
	}
	if len(r.Units) > 0 {
		fmt.Fprintln(w, "units that use it (from their unit files):")
		for _, u := range r.Units {
			fmt.Fprintf(w, "  %s  %s\n", u.Unit, u.Setting)
		}
	}
	if r.Swap != nil || r.Staged != nil {
		fmt.Fprintln(w, "check running services with: systemctl list-units --type=service --state=running; restart the units above after the restore")
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
}
