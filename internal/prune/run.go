package prune

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/inventory"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/state"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

const (
	program = "impermanence-prune"
	jobName = "cleanup"
)

const usage = `Usage: impermanence-prune [options]

Applies the snapshot retention ([snapshots] retention) to every subvolume's
snapshots and the [archive] policy to the archived previous states, deletes
what they select (through ioctls, continuing past a failure) and commits
once. --dry-run prints every snapshot and archive with keep or delete and
the reason. Free and unallocated space are reported before and after.

Options:
`

const exitHelp = `
Exit status: 0 done, 1 at least one deletion failed (the others were done) or
the run could not start, 2 usage error.
`

// Space is the space guard's view of the filesystem.
type Space struct {
	Size        uint64 `json:"size_bytes"`
	Free        uint64 `json:"free_bytes"`
	Unallocated uint64 `json:"unallocated_bytes"`
}

// Failure is one deletion that failed.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Report is the output of a run.
type Report struct {
	DryRun   bool      `json:"dry_run"`
	Plan     Plan      `json:"plan"`
	Deleted  int       `json:"deleted"`
	Failures []Failure `json:"failures,omitempty"`
	Before   Space     `json:"space_before"`
	After    *Space    `json:"space_after,omitempty"`
	SpaceLow bool      `json:"space_low"`
	Seconds  float64   `json:"seconds"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(fl, true)
	zone := fl.String("timezone", "", "time `zone` of the calendar buckets (default: the system's, from TZ or /etc/localtime)")
	minFree := fl.Float64("min-free", 10, "warn when free space is under this `percent` of the filesystem")
	wait := fl.Duration("wait", 0, "after deleting, wait up to this `duration` for the cleaner to return the space")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, fl.Arg(0))
		return job.ExitUsage
	}
	if !(*minFree >= 0 && *minFree <= 100) { // NaN too
		return job.Usage(env, program, "--min-free %g: want a percent from 0 to 100", *minFree)
	}
	if err := job.NotNegative("--wait", *wait); err != nil {
		return job.Usage(env, program, "%v", err)
	}
	loc := time.Local
	if *zone != "" {
		var err error
		if loc, err = time.LoadLocation(*zone); err != nil {
			fmt.Fprintf(env.Stderr, "%s: --timezone: %v\n", program, err)
			return job.ExitUsage
		}
	}
	s, err := job.OpenRun(ctx, env, f, program, jobName, func(log *slog.Logger, err error) {
		log.Error("prune failed: "+err.Error(), journal.MessageID(msgid.PruneDone), "result", "failure")
	})
	if err != nil {
		return job.ExitFailure
	}
	defer s.Close()
	rep, err := Prune(ctx, s, Options{Location: loc, DryRun: f.DryRun, MinFreePercent: *minFree, Wait: *wait})
	job.Print(env.Stdout, f.JSON, rep, rep.print)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	return job.ExitOK
}

// Options of a run.
type Options struct {
	Location       *time.Location
	DryRun         bool
	MinFreePercent float64
	Wait           time.Duration
}

// Prune plans and (unless DryRun) applies retention on s's filesystem.
func Prune(ctx context.Context, s *job.Session, o Options) (Report, error) {
	rep := Report{DryRun: o.DryRun}
	fsys, log := s.FS, s.Log
	p, err := observe(s, o.Location)
	if err == nil {
		err = spaceBudget(ctx, fsys, s.Config, &p)
	}
	if err != nil {
		return rep, finish(s, &rep, o, err)
	}
	rep.Plan = p
	for _, w := range p.Warnings {
		log.Warn(w)
	}
	if rep.Before, err = space(fsys); err != nil {
		return rep, finish(s, &rep, o, err)
	}
	if o.DryRun {
		rep.SpaceLow = low(rep.Before, o.MinFreePercent)
		return rep, nil
	}
	t0 := time.Now()
	rep.Deleted, rep.Failures = apply(ctx, s, p)
	stopped := job.Stopped(ctx)
	var roErr error
	if stopped == nil {
		roErr = readOnlyArchives(s)
	}
	wait := fsys.WaitCleaned // the commit woke the cleaner
	if err := fsys.Commit(); err != nil {
		rep.Failures = append(rep.Failures, Failure{Path: "(commit)", Error: err.Error()})
		wait = fsys.WaitDeleted // commits again first
	}
	if o.Wait > 0 && rep.Deleted > 0 && stopped == nil {
		var ids []uint64
		for _, it := range p.Items {
			if it.Delete {
				ids = append(ids, it.ID)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, o.Wait)
		if err := wait(wctx, ids, 0); err != nil {
			log.Warn("the cleaner has not freed every deleted subvolume yet", "error", err)
		}
		cancel()
	}
	rep.Seconds = time.Since(t0).Seconds()
	after, err := space(fsys)
	if err == nil {
		rep.After = &after
	}
	// The exporter mounts no top level: the archive dir's inventory goes
	// beside the record.
	if ierr := inventory.Record(fsys, s.Config, s.StateDir, jobName, s.Env.Now()); ierr != nil {
		log.Warn("archive inventory not recorded", "error", ierr)
	}
	var ferr error
	if len(rep.Failures) > 0 {
		ferr = fmt.Errorf("%d of %d deletions failed", len(rep.Failures), p.Deletions())
	}
	if stopped != nil {
		stopped = fmt.Errorf("%w: %d of %d deletions done", stopped, rep.Deleted, p.Deletions())
	}
	return rep, finish(s, &rep, o, errors.Join(stopped, ferr, roErr, err))
}

// observe lists the filesystem and builds the plan.
func observe(s *job.Session, loc *time.Location) (Plan, error) {
	subvols, err := s.FS.List()
	if err != nil {
		return Plan{}, err
	}
	mounts, err := s.FS.MountedSubvolumes()
	if err != nil {
		return Plan{}, err
	}
	mounted := map[uint64][]string{}
	for id, ms := range mounts {
		for _, m := range ms {
			mounted[id] = append(mounted[id], m.Mountpoint)
		}
	}
	snaps := snapshot.List(subvols, s.Config.Snapshots.Dir, s.FS.Mountpoint())
	p := Build(s.Config, snaps, subvols, mounted, loc, s.Now)
	records, err := targetstate.ReadAll(s.Env.StateDir())
	if err != nil {
		p.Warnings = append(p.Warnings, err.Error()+": the parent that target needs may be pruned (its next send is then a full one)")
	}
	KeepParents(&p, s.Config.Snapshots.Dir, records)
	return p, nil
}

// stopBatch is how many snapshots apply deletes between two looks at
// whether the run was stopped (about 10 ms of ioctls).
const stopBatch = 100

// apply deletes what the plan selects: snapshots in batches, archives
// recursively, deepest first. It goes on past failures; stopped (ctx), it
// ends after the batch or archive in progress.
func apply(ctx context.Context, s *job.Session, p Plan) (int, []Failure) {
	var failures []Failure
	byID := map[uint64]Item{}
	var ids []uint64
	perSubvolume := map[string]int{}
	deleted := 0
	for _, it := range p.Items {
		if !it.Delete || it.Kind != KindSnapshot {
			continue
		}
		byID[it.ID] = it
		ids = append(ids, it.ID)
	}
	t0 := time.Now()
	for len(ids) > 0 && job.Stopped(ctx) == nil {
		batch := ids[:min(stopBatch, len(ids))]
		ids = ids[len(batch):]
		_, err := s.FS.DeleteMany(batch, func(id uint64, err error) {
			it := byID[id]
			if err != nil {
				failures = append(failures, Failure{Path: it.Path, Error: err.Error()})
				s.Log.Error("deleting snapshot "+it.Path+" failed: "+err.Error(), "path", it.Path, "error", err)
				s.AuditEvent(audit.Event{Action: "delete-snapshot", Subvolume: it.Subvolume, Path: it.Path,
					Result: audit.ResultFailure, Error: err.Error()})
				return
			}
			deleted++
			perSubvolume[it.Subvolume]++
			s.Log.Info("snapshot "+it.Path+" deleted: "+it.Reason, journal.MessageID(msgid.SnapshotDeleted),
				"subvolume", it.Subvolume, "path", it.Path, "reason", it.Reason)
			if it.Label != "" {
				os.Remove(snapshot.MetaPath(filepath.Join(s.FS.Mountpoint(), it.Path)))
			}
		})
		if err != nil {
			for _, id := range batch {
				failures = append(failures, Failure{Path: byID[id].Path, Error: err.Error()})
			}
		}
	}
	for sv, n := range perSubvolume {
		s.AuditEvent(audit.Event{Action: fmt.Sprintf("delete %d snapshots", n), Subvolume: sv,
			Path: path.Join(s.Config.Snapshots.Dir, sv), Result: audit.ResultSuccess, Duration: time.Since(t0).Seconds()})
	}
	for _, it := range p.Items {
		if !it.Delete || it.Kind != KindArchive {
			continue
		}
		if job.Stopped(ctx) != nil {
			break
		}
		t1 := time.Now()
		_, err := s.FS.DeleteRecursive(it.Path)
		ev := audit.Event{Action: "delete-archive", Subvolume: it.Subvolume, Path: it.Path,
			Result: audit.ResultSuccess, Duration: time.Since(t1).Seconds()}
		if err != nil {
			failures = append(failures, Failure{Path: it.Path, Error: err.Error()})
			ev.Result, ev.Error = audit.ResultFailure, err.Error()
			s.Log.Error("deleting archive "+it.Path+" failed: "+err.Error(), "path", it.Path, "error", err)
		} else {
			deleted++
			s.Log.Info("archive "+it.Path+" deleted: "+it.Reason, journal.MessageID(msgid.ArchivePruned),
				"subvolume", it.Subvolume, "path", it.Path, "reason", it.Reason)
		}
		s.AuditEvent(ev)
	}
	return deleted, failures
}

// readOnlyArchives makes read-only every writable archive and replaced
// state (names.Archive, names.Replaced) directly in <archive dir>/<S>/ for
// any S, unless mounted: the rollback and restore set the flag in a step of
// their own after the rename, so a crash between the two, or an older
// version, leaves one writable.
func readOnlyArchives(s *job.Session) error {
	subvols, err := s.FS.List()
	if err != nil {
		return fmt.Errorf("read-only archives: %w", err)
	}
	mounted, err := s.FS.MountedSubvolumes()
	if err != nil {
		return fmt.Errorf("read-only archives: %w", err)
	}
	var errs []error
	for _, sv := range subvols {
		rest, ok := strings.CutPrefix(sv.Path, s.Config.Archive.Dir+"/")
		if !ok || sv.ReadOnly || strings.Count(rest, "/") != 1 || len(mounted[sv.ID]) > 0 {
			continue
		}
		name := path.Base(rest)
		_, _, _, isArchive := names.ParseArchive(name)
		_, _, isReplaced := names.ParseReplaced(name)
		if !isArchive && !isReplaced {
			continue
		}
		if err := s.FS.SetReadOnly(sv.Path, true); err != nil {
			errs = append(errs, err)
			s.Log.Error("making "+sv.Path+" read-only failed: "+err.Error(), "path", sv.Path, "error", err)
			continue
		}
		s.Log.Warn(sv.Path+" was writable (an interrupted archive step, or an older version): made read-only", "path", sv.Path)
		s.AuditEvent(audit.Event{Action: "archive-read-only", Path: sv.Path, Result: audit.ResultSuccess})
	}
	return errors.Join(errs...)
}

func space(fsys *btrfs.FS) (Space, error) {
	u, err := fsys.Usage()
	if err != nil {
		return Space{}, err
	}
	return Space{Size: u.Size, Free: u.FreeEstimate, Unallocated: u.Unallocated}, nil
}

func low(sp Space, minPercent float64) bool {
	return sp.Size > 0 && float64(sp.Free) < float64(sp.Size)*minPercent/100
}

// finish logs the summary and the space guard, and writes the state record.
func finish(s *job.Session, rep *Report, o Options, err error) error {
	if o.DryRun {
		return err
	}
	sp := rep.Before
	if rep.After != nil {
		sp = *rep.After
	}
	rep.SpaceLow = low(sp, o.MinFreePercent)
	if rep.SpaceLow {
		s.Log.Warn(fmt.Sprintf("free space is low: %s free of %s (%s unallocated), under %g%%",
			human.Bytes(sp.Free), human.Bytes(sp.Size), human.Bytes(sp.Unallocated), o.MinFreePercent),
			journal.MessageID(msgid.SpaceLow), "free_bytes", sp.Free, "size_bytes", sp.Size, "unallocated_bytes", sp.Unallocated)
	}
	rec := state.Record{Result: state.ResultSuccess, Counters: map[string]int64{
		"deleted": int64(rep.Deleted), "failed": int64(len(rep.Failures)), "kept": int64(len(rep.Plan.Items) - rep.Plan.Deletions()),
		"free_bytes": int64(sp.Free), "unallocated_bytes": int64(sp.Unallocated), "size_bytes": int64(sp.Size), "space_low": b2i(rep.SpaceLow),
	}}
	if err != nil {
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	}
	level, result := "info", "success"
	if err != nil {
		level, result = "error", "failure"
	}
	msg := fmt.Sprintf("prune %s: %d deleted, %d failed, %d kept; free %s, unallocated %s",
		result, rep.Deleted, len(rep.Failures), len(rep.Plan.Items)-rep.Plan.Deletions(), human.Bytes(sp.Free), human.Bytes(sp.Unallocated))
	attrs := []any{journal.MessageID(msgid.PruneDone), "result", result, "deleted", rep.Deleted, "failed", len(rep.Failures)}
	if level == "error" {
		s.Log.Error(msg, attrs...)
	} else {
		s.Log.Info(msg, attrs...)
	}
	s.AuditEvent(audit.Event{Action: "prune", Result: map[bool]string{true: audit.ResultFailure, false: audit.ResultSuccess}[err != nil],
		Duration: rep.Seconds, Error: errString(err)})
	s.Record(rec)
	return err
}

func (r Report) print(w io.Writer) {
	if r.DryRun {
		r.Plan.Print(w)
		fmt.Fprintf(w, "dry run: would delete %d, keep %d; free %s, unallocated %s of %s\n",
			r.Plan.Deletions(), len(r.Plan.Items)-r.Plan.Deletions(), human.Bytes(r.Before.Free), human.Bytes(r.Before.Unallocated), human.Bytes(r.Before.Size))
		return
	}
	for _, it := range r.Plan.Items {
		if it.Delete {
			fmt.Fprintf(w, "delete %s: %s\n", it.Path, it.Reason)
		}
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILED %s: %s\n", f.Path, f.Error)
	}
	for _, m := range r.Plan.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
	fmt.Fprintf(w, "deleted %d, failed %d, kept %d in %.3fs\n", r.Deleted, len(r.Failures), len(r.Plan.Items)-r.Plan.Deletions(), r.Seconds)
	fmt.Fprintf(w, "space before: free %s, unallocated %s of %s\n", human.Bytes(r.Before.Free), human.Bytes(r.Before.Unallocated), human.Bytes(r.Before.Size))
	if r.After != nil {
		fmt.Fprintf(w, "space after:  free %s, unallocated %s (the cleaner may still be freeing)\n", human.Bytes(r.After.Free), human.Bytes(r.After.Unallocated))
	}
	if r.SpaceLow {
		fmt.Fprintln(w, "warning: free space is under the threshold")
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
