package send

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/state"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

const (
	program = "impermanence-send"
	jobName = "send"
)

const usage = `Usage: impermanence-send [options] [--target NAME]
       impermanence-send list [options] [--target NAME]
       impermanence-send verify [options] [--target NAME]

Sends to every [[target]] (or the one named) the snapshots it lacks,
oldest first, each incrementally from the newest snapshot both sides hold
(matched by received UUID), in full only when there is none; then runs the
target's retention, which never deletes that common snapshot. "list" shows
what each side holds; "verify" checks the chain (the next send can be
incremental, nothing the last send left is gone), and every stream a stream
target stores against its manifest, and exits 1 when one broke.

Options:
`

const exitHelp = `
Exit status: 0 every target is up to date, 1 at least one send or target
failed (the others were still sent), 2 usage error.
`

// Sent is one snapshot sent, or failed.
type Sent struct {
	Subvolume string  `json:"subvolume"`
	Name      string  `json:"name"`
	Parent    string  `json:"parent,omitempty"`
	Why       string  `json:"why"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`
}

// Deleted is one snapshot the target's retention deleted, or failed to.
type Deleted struct {
	Subvolume string `json:"subvolume"`
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

// TargetReport is one target's run.
type TargetReport struct {
	Target   string    `json:"target"`
	URL      string    `json:"url"`
	Cleaned  []string  `json:"cleaned,omitempty"`
	Sent     []Sent    `json:"sent"`
	Deleted  []Deleted `json:"deleted"`
	Warnings []string  `json:"warnings,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Report is the output of a run.
type Report struct {
	DryRun  bool           `json:"dry_run,omitempty"`
	Targets []TargetReport `json:"targets"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	if len(args) > 0 && args[0] == "list" {
		return runList(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "verify" {
		return runVerify(ctx, args[1:], env)
	}
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.LockTimeout = 0
	f.Register(fl, true)
	target := fl.String("target", "", "send to the target called `NAME` only")
	var pf progress.Flags
	pf.Register(fl)
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		return job.Usage(env, program, "unexpected argument %q", fl.Arg(0))
	}
	// On a terminal, the progress line of each snapshot on stderr; the
	// log lines (stderr without a journal) go above it.
	meter, stderr, err := pf.Open(env.Stderr, time.Now)
	if err != nil {
		return job.Usage(env, program, "%v", err)
	}
	env.Stderr = stderr
	s, targets, err := open(ctx, env, f, *target, f.DryRun)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		if s != nil && !f.DryRun {
			job.RecordFailure(env, jobName, s.Start, err)
		}
		if errors.Is(err, errUsage) {
			return job.ExitUsage
		}
		return job.ExitFailure
	}
	defer s.Close()
	rep := Report{DryRun: f.DryRun}
	failed := 0
	var sentN, bytes int64
	for _, t := range targets {
		if job.Stopped(ctx) != nil {
			break
		}
		tr := runTarget(ctx, s, t, f.DryRun, f.LockTimeout, meter)
		if tr.Error != "" {
			failed++
		}
		for _, x := range tr.Sent {
			if x.OK {
				sentN++
			}
			bytes += x.Bytes
		}
		rep.Targets = append(rep.Targets, tr)
	}
	code := job.ExitOK
	var runErr error
	switch {
	case job.Stopped(ctx) != nil:
		runErr = fmt.Errorf("%w: %d of %d targets done", job.Stopped(ctx), len(rep.Targets), len(targets))
	case failed > 0:
		runErr = fmt.Errorf("%d of %d targets failed", failed, len(targets))
	}
	if runErr != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, runErr)
		code = job.ExitFailure
	}
	if !f.DryRun {
		rec := state.Record{Result: state.ResultSuccess,
			Counters: map[string]int64{"sent": sentN, "bytes": bytes, "failed_targets": int64(failed)}}
		if runErr != nil {
			rec.Result, rec.Error = state.ResultFailure, runErr.Error()
		}
		rec.Details, _ = json.Marshal(rep)
		s.Record(rec)
	}
	job.Print(env.Stdout, f.JSON, rep, rep.print)
	return code
}

var errUsage = errors.New("usage")

// open begins the run: the configuration, the targets to send to, and a
// read-only private mount of the source's top level (no job lock, see
// the package documentation).
func open(ctx context.Context, env job.Env, f job.Flags, only string, dryRun bool) (*job.Session, []config.Target, error) {
	s := job.Begin(ctx, env, program, jobName)
	s.Records = !dryRun
	cfg, err := job.LoadConfig(f.Config, f.Default)
	if err != nil {
		s.Close()
		return s, nil, err
	}
	s.Config = cfg
	targets := cfg.Targets
	if only != "" {
		t, ok := cfg.Target(only)
		if !ok {
			s.Close()
			return nil, nil, fmt.Errorf("%w: --target %s: no such [[target]] in the configuration", errUsage, only)
		}
		targets = []config.Target{t}
	}
	if len(targets) == 0 {
		s.Close()
		return s, nil, errors.New("no [[target]] in the configuration: nothing to send")
	}
	if err := s.Reach(f, true); err != nil {
		s.Close()
		return s, nil, err
	}
	if !dryRun {
		s.OpenAudit(env.AuditPath())
	}
	s.Now = env.Now()
	return s, targets, nil
}

// runTarget sends to one target under its lock; meter (nil: off) shows
// each transfer.
func runTarget(ctx context.Context, s *job.Session, t config.Target, dryRun bool, timeout time.Duration, meter *progress.Meter) TargetReport {
	tr := TargetReport{Target: t.Name, URL: t.URL, Sent: []Sent{}, Deleted: []Deleted{}}
	log := s.Log.With("target", t.Name)
	fail := func(err error) TargetReport {
		tr.Error = err.Error()
		log.Error("send to "+t.Name+" failed: "+tr.Error, "error", err)
		if !dryRun {
			s.AuditEvent(audit.Event{Action: "send", Path: t.URL, Result: audit.ResultFailure, Error: tr.Error})
		}
		return tr
	}
	if t.Format != config.FormatBtrfs {
		return runStream(ctx, s, t, dryRun, timeout, meter)
	}
	l, err := targetOf(t, s.Env.RunDir())
	if err != nil {
		return fail(err)
	}
	if err := l.check(ctx, s.FS.FSID()); err != nil {
		return fail(err)
	}
	defer l.close()
	if !dryRun {
		lk, err := lock.Acquire(ctx, s.Env.LockDir(), lock.Target(t.Name), jobName, timeout, log)
		if err != nil {
			return fail(fmt.Errorf("target %s: %w", t.Name, err))
		}
		defer lk.Release()
		// A stop cuts a transfer short (btrfs receive is killed): its
		// partial subvolume goes now, under the lock, not at the next run.
		defer func() {
			if job.Stopped(ctx) == nil {
				return
			}
			removed, err := l.clean()
			for _, c := range removed {
				log.Info("removed the partial transfer the stop cut short: "+c, "path", path.Join(targetdir.Incoming, c))
			}
			if err != nil {
				log.Warn("partial transfer left for the next run to remove", "error", err)
			}
		}()
		cleaned, err := l.clean()
		tr.Cleaned = cleaned
		for _, c := range cleaned {
			log.Info("removed a partial transfer a killed run left: "+c, "path", path.Join(targetdir.Incoming, c))
		}
		if err != nil {
			return fail(err)
		}
	}
	src, err := listSources(s)
	if err != nil {
		return fail(err)
	}
	bySV, entries, uuids := src.bySV, src.entries, src.uuids
	prev, _ := targetstate.Read(s.Env.StateDir(), t.Name)
	rec := targetstate.Record{Target: t.Name, URL: t.URL, Subvolumes: map[string]targetstate.Subvolume{}, SentBytes: prev.SentBytes}
	compressed := compressedSend(s.Env.Sysfs, s.Env.RunDir())
	policy := replicate.Policy(t, time.Local)
	var errs []error
	for _, sv := range t.Subvolumes {
		if job.Stopped(ctx) != nil {
			errs = append(errs, job.Stopped(ctx))
			break
		}
		if !dryRun {
			fixed, err := l.repair(sv)
			for _, n := range fixed {
				log.Warn(fmt.Sprintf("made %s/%s on %s read-only again: a crash left it writable while it was moved into place", sv, n, t.Name))
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
		}
		held, err := l.list(ctx, sv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plan := replicate.Build(sv, bySV[sv], held, policy, s.Now)
		tr.Warnings = append(tr.Warnings, plan.Warnings...)
		for _, w := range plan.Warnings {
			log.Warn(w)
		}
		okAll := true
		for i, x := range plan.Sends {
			r := Sent{Subvolume: sv, Name: x.Name, Parent: x.Parent, Why: x.Why}
			if dryRun {
				r.OK = true
				tr.Sent = append(tr.Sent, r)
				continue
			}
			if job.Stopped(ctx) != nil {
				okAll = false
				break
			}
			tx := transfer{fsys: s.FS, snapshot: entries[sv+"/"+x.Name].Path, sv: sv, name: x.Name,
				uuid: uuids[sv+"/"+x.Name], compressed: compressed, meter: meter}
			if x.Parent != "" {
				tx.parent = entries[sv+"/"+x.Parent].Path
			}
			t0 := time.Now()
			meter.Start(sendItem(t.Name, sv, x.Name, i, len(plan.Sends), 0))
			n, err := l.receive(ctx, tx)
			meter.Finish(err)
			r.Bytes, r.Seconds = n, time.Since(t0).Seconds()
			rec.SentBytes += n
			ev := audit.Event{Action: "send", Subvolume: sv, Path: l.where(sv, x.Name), Duration: r.Seconds, Result: audit.ResultSuccess}
			if err != nil {
				okAll = false
				r.Error = err.Error()
				ev.Result, ev.Error = audit.ResultFailure, r.Error
				log.Error(fmt.Sprintf("send of %s/%s to %s failed: %v", sv, x.Name, t.Name, err), "subvolume", sv, "snapshot", x.Name)
				errs = append(errs, fmt.Errorf("send %s/%s: %w", sv, x.Name, err))
			} else {
				r.OK = true
				log.Info(fmt.Sprintf("sent %s/%s to %s: %s, %d bytes in %.1f s (%s)", sv, x.Name, t.Name, x.Why, n, r.Seconds, progress.Rate(n, r.Seconds)),
					"subvolume", sv, "snapshot", x.Name, "parent", x.Parent, "bytes", n, "seconds", secs(r.Seconds))
			}
			s.AuditEvent(ev)
			tr.Sent = append(tr.Sent, r)
			if err != nil {
				break // the later sends of this subvolume would need it as their parent
			}
		}
		// The target's retention only after every send succeeded: the plan
		// counted on them (its parent is the newest sent). An append-only
		// target (SSH) runs its own retention on the backup host.
		if okAll && !l.appendOnly() {
			for _, name := range plan.Deletions() {
				d := Deleted{Subvolume: sv, Name: name, OK: true}
				if !dryRun {
					err := l.delete(sv, name)
					ev := audit.Event{Action: "target-delete", Subvolume: sv, Path: l.where(sv, name), Result: audit.ResultSuccess}
					if err != nil {
						d.OK, d.Error = false, err.Error()
						ev.Result, ev.Error = audit.ResultFailure, d.Error
						errs = append(errs, err)
					} else {
						log.Info(fmt.Sprintf("deleted %s/%s on %s (its retention)", sv, name, t.Name), "subvolume", sv, "snapshot", name)
					}
					s.AuditEvent(ev)
				}
				tr.Deleted = append(tr.Deleted, d)
			}
		}
		if dryRun {
			continue
		}
		// What the target holds now, read again.
		held, err = l.list(ctx, sv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st := targetstate.Subvolume{Snapshots: []targetstate.Snapshot{}}
		for _, h := range sortedHeld(held) {
			if h.ReceivedUUID != "" {
				st.Snapshots = append(st.Snapshots, targetstate.Snapshot{Name: h.Name, ReceivedUUID: h.ReceivedUUID})
			}
		}
		st.Parent = replicate.Common(bySV[sv], held)
		if st.Parent != "" {
			st.ParentUUID = uuids[sv+"/"+st.Parent].String()
		}
		st.LastSuccess = prev.Subvolumes[sv].LastSuccess
		if okAll {
			st.LastSuccess = s.Env.Now()
		}
		rec.Subvolumes[sv] = st
	}
	if !dryRun {
		// Everything this run received and deleted is durable before the
		// record says the target holds it.
		if c, ok := l.(committer); ok {
			if err := c.commit(); err != nil {
				return fail(errors.Join(append(errs, err)...))
			}
		}
		rec.Time = s.Env.Now()
		if err := targetstate.Write(s.Env.StateDir(), rec); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return tr
}

// sendItem is the progress item of the i-th (from 0) of n sends of sv to
// target; estimate is its expected size, 0 for none.
func sendItem(target, sv, name string, i, n int, estimate int64) progress.Item {
	return progress.Item{Target: target, Subvolume: sv, Snapshot: name, Index: i + 1, Count: n,
		Total: estimate, Estimated: estimate > 0, Verb: "sent"}
}

// secs rounds a duration in seconds for a log field.
func secs(s float64) float64 { return math.Round(s*1000) / 1000 }

// streamUUID is the identity btrfs send gives a snapshot in its stream,
// the received UUID a target's copy of it carries: its own UUID, or for a
// snapshot that was itself received (fetched back from a target by
// impermanence-restore) the received UUID it carries. Matching the
// target's copies by it keeps sends incremental after a restore from the
// target.
func streamUUID(s btrfs.Subvolume) btrfs.UUID {
	if !s.ReceivedUUID.IsZero() {
		return s.ReceivedUUID
	}
	return s.UUID
}

func (r Report) print(w io.Writer) {
	for _, t := range r.Targets {
		verb, del := "sent", "deleted"
		if r.DryRun {
			verb, del = "would send", "would delete"
		}
		for _, c := range t.Cleaned {
			fmt.Fprintf(w, "%s: removed partial transfer %s\n", t.Target, c)
		}
		for _, x := range t.Sent {
			if x.OK {
				fmt.Fprintf(w, "%s: %s %s/%s (%s)", t.Target, verb, x.Subvolume, x.Name, x.Why)
				if !r.DryRun {
					fmt.Fprintf(w, ", %d bytes in %.1f s", x.Bytes, x.Seconds)
				}
				fmt.Fprintln(w)
			} else {
				fmt.Fprintf(w, "%s: FAILED %s/%s: %s\n", t.Target, x.Subvolume, x.Name, x.Error)
			}
		}
		for _, d := range t.Deleted {
			if d.OK {
				fmt.Fprintf(w, "%s: %s %s/%s (the target's retention)\n", t.Target, del, d.Subvolume, d.Name)
			} else {
				fmt.Fprintf(w, "%s: FAILED to delete %s/%s: %s\n", t.Target, d.Subvolume, d.Name, d.Error)
			}
		}
		for _, m := range t.Warnings {
			fmt.Fprintf(w, "%s: warning: %s\n", t.Target, m)
		}
		if t.Error != "" {
			fmt.Fprintf(w, "%s: FAILED: %s\n", t.Target, t.Error)
		} else if len(t.Sent) == 0 && len(t.Deleted) == 0 {
			fmt.Fprintf(w, "%s: up to date\n", t.Target)
		}
	}
}
