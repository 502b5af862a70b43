package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
	"github.com/server-impermanence/server-impermanence/internal/state"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

const (
	program = "impermanence-snapshot"
	jobName = "snapshot"
)

const usage = `Usage: impermanence-snapshot [options] [SUBVOLUME...]
       impermanence-snapshot list [options] [SUBVOLUME...]

Takes a read-only snapshot of every subvolume with snapshot = true (or of the
SUBVOLUMEs named) into <snapshots dir>/<subvolume>/<YYYYMMDDTHHMMSSZ>, all
with the same UTC timestamp. With --label the snapshot is manual
(<time>-<label>): timeline retention never deletes it, unless --expire gives
it a lifetime. With --due (server-snapshots.service) only the subvolumes
whose schedule elapsed since their newest timeline snapshot are taken: each
subvolume's own schedule, its policy's or [snapshots]'s. "list" prints every
snapshot with its age, kind, label and read-only flag.

Options:
`

const exitHelp = `
Exit status: 0 every snapshot was taken (or not due), 1 at least one failed or
was skipped by its failed pre_snapshot hook, or a post_snapshot hook failed (the
others were still taken), 2 usage error.
`

// Result is one snapshot taken or failed.
type Result struct {
	Subvolume string    `json:"subvolume"`
	Path      string    `json:"path"`
	Label     string    `json:"label,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	Seconds   float64   `json:"seconds"`
	// Hooks are the pre_snapshot and post_snapshot hooks that ran, in
	// order; Skipped says the failed pre-hook skipped the snapshot.
	Hooks   []HookResult `json:"hooks,omitempty"`
	Skipped bool         `json:"skipped,omitempty"`
}

// Skip is a subvolume a run did not snapshot, and why.
type Skip struct {
	Subvolume string `json:"subvolume"`
	Reason    string `json:"reason"`
}

// Report is the output of a run.
type Report struct {
	Time      time.Time `json:"time"`
	DryRun    bool      `json:"dry_run,omitempty"`
	Snapshots []Result  `json:"snapshots"`
	// Skipped are the subvolumes --due found not due.
	Skipped  []Skip   `json:"skipped,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	if len(args) > 0 && args[0] == "list" {
		return runList(ctx, args[1:], env)
	}
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(fl, true)
	label := fl.String("label", "", "take a manual snapshot named <time>-`NAME`, never deleted by timeline retention")
	expire := fl.String("expire", "", "with --label: the manual snapshot may be deleted after this systemd time `span` (e.g. 30d)")
	due := fl.Bool("due", false, "snapshot only the subvolumes whose schedule elapsed since their newest timeline snapshot (server-snapshots.service)")
	zone := fl.String("timezone", "", "time `zone` of schedules that name none (default: the system's, from TZ or /etc/localtime)")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	var lifetime time.Duration
	if *label != "" || job.IsSet(fl, "label") { // --label "" is no timeline snapshot
		if err := names.CheckLabel(*label); err != nil {
			return job.Usage(env, program, "--label: %v", err)
		}
	}
	if *expire != "" || job.IsSet(fl, "expire") {
		var err error
		if lifetime, err = timespan.Parse(*expire); err != nil || lifetime <= 0 {
			fmt.Fprintf(env.Stderr, "%s: invalid --expire %q: want a positive time span like 30d\n", program, *expire)
			return job.ExitUsage
		}
		if *label == "" {
			fmt.Fprintf(env.Stderr, "%s: --expire needs --label (timeline snapshots expire by retention)\n", program)
			return job.ExitUsage
		}
	}
	if *due && (*label != "" || fl.NArg() > 0) {
		return job.Usage(env, program, "--due decides which subvolumes to snapshot by their schedules: not with --label or SUBVOLUME arguments")
	}
	loc := time.Local
	if *zone != "" {
		var err error
		if loc, err = time.LoadLocation(*zone); err != nil {
			return job.Usage(env, program, "--timezone: %v", err)
		}
	}
	if fl.NArg() > 0 {
		// A SUBVOLUME the configuration does not snapshot is a usage
		// error, found before anything is opened.
		if cfg, err := job.LoadConfig(f.Config, f.Default); err == nil {
			if err := checkNamed(cfg, fl.Args()); err != nil {
				return job.Usage(env, program, "%v", err)
			}
		}
	}
	s, err := job.OpenRun(ctx, env, f, program, jobName, func(log *slog.Logger, err error) {
		log.Error("snapshot failed: "+err.Error(), journal.MessageID(msgid.SnapshotFailed))
	})
	if err != nil {
		return job.ExitFailure
	}
	defer s.Close()
	rep, err := Take(ctx, s, Options{Subvolumes: fl.Args(), Label: *label, Lifetime: lifetime, DryRun: f.DryRun,
		Due: *due, Location: loc})
	code := job.ExitOK
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		code = job.ExitFailure
	}
	job.Print(env.Stdout, f.JSON, rep, rep.Print)
	return code
}

// Options of one run.
type Options struct {
	Subvolumes []string // default: every subvolume with snapshot = true
	Label      string
	Lifetime   time.Duration // with Label: expiry after the snapshot's time
	DryRun     bool
	// Due snapshots only the subvolumes whose schedule elapsed since
	// their newest timeline snapshot (Due), schedules read in Location
	// (nil: time.Local).
	Due      bool
	Location *time.Location
	// Hooks runs the pre_snapshot and post_snapshot hooks (nil: Runner
	// for the host).
	Hooks HookRunner
}

// Take snapshots the subvolumes of s's configuration. The error says how
// many failed; the report has each. Stopped (ctx), it ends before the next
// snapshot: those taken are whole.
func Take(ctx context.Context, s *job.Session, o Options) (Report, error) {
	cfg, fsys, log := s.Config, s.FS, s.Log
	dir := cfg.Snapshots.Dir
	targets, err := targets(s, o.Subvolumes)
	if err != nil {
		failRun(s, err, o.DryRun)
		return Report{}, err
	}
	rep := Report{DryRun: o.DryRun}
	if err := checkDir(fsys, dir); err != nil {
		failRun(s, err, o.DryRun)
		return rep, err
	}
	if w := checkMode(filepath.Join(fsys.Mountpoint(), dir)); w != "" {
		rep.Warnings = append(rep.Warnings, w)
		log.Warn(w)
	}
	subvols, err := fsys.List()
	if err != nil {
		failRun(s, err, o.DryRun)
		return rep, err
	}
	existing := map[string]bool{}
	entries := List(subvols, dir, fsys.Mountpoint())
	if o.Due {
		loc := o.Location
		if loc == nil {
			loc = time.Local
		}
		var due []string
		for _, v := range Due(cfg, targets, entries, s.Now, loc) {
			if v.Due {
				due = append(due, v.Subvolume)
				log.Info("snapshot of "+v.Subvolume+" due: "+v.Reason, "subvolume", v.Subvolume)
			} else {
				rep.Skipped = append(rep.Skipped, Skip{Subvolume: v.Subvolume, Reason: v.Reason})
			}
		}
		targets = due
	}
	for _, e := range entries {
		existing[e.Path] = true
		if !e.ReadOnly {
			w := fmt.Sprintf("snapshot %s is writable: a snapshot must be read-only (make it so with: btrfs property set <path> ro true)", e.Path)
			rep.Warnings = append(rep.Warnings, w)
			log.Warn(w, "path", e.Path)
		}
	}
	// One timestamp per run, unique: wait for the next second if a run in
	// this second already used it.
	now := s.Now.UTC()
	ts := now.Truncate(time.Second)
	for taken(existing, dir, targets, ts, o.Label) {
		s.Env.Sleep(ts.Add(time.Second).Sub(now))
		now = s.Env.Now().UTC()
		if next := ts.Add(time.Second); now.Before(next) {
			ts = next
		} else {
			ts = now.Truncate(time.Second)
		}
	}
	rep.Time = ts
	name := names.Snapshot(ts, o.Label)
	var expires time.Time
	if o.Lifetime > 0 {
		expires = ts.Add(o.Lifetime)
	}
	failed, created, hookFailed := 0, 0, map[string]int64{}
	runner := o.Hooks
	if runner == nil {
		runner = Runner(s.Env.Path("/run/systemd/system"))
	}
	var stopped error
	for _, sv := range targets {
		if stopped = job.Stopped(ctx); stopped != nil {
			break
		}
		p := path.Join(dir, sv, name)
		r := Result{Subvolume: sv, Path: p, Label: o.Label, Expires: expires}
		conf, _ := cfg.Subvolume(sv)
		if o.DryRun {
			r.OK = true
			for _, h := range []struct {
				phase string
				argv  []string
			}{{PhasePre, conf.PreSnapshot}, {PhasePost, conf.PostSnapshot}} {
				if len(h.argv) > 0 {
					r.Hooks = append(r.Hooks, HookResult{Phase: h.phase, Argv: strings.Join(h.argv, " "), Result: HookDryRun,
						User: conf.HookUser})
				}
			}
			rep.Snapshots = append(rep.Snapshots, r)
			continue
		}
		hook := func(phase string, argv []string) HookResult {
			// A post-hook runs even when the run is being stopped: the
			// pre-hook may have paused the application.
			hctx := ctx
			if phase == PhasePost {
				hctx = context.WithoutCancel(ctx)
			}
			h := Hook{Phase: phase, Subvolume: sv, Snapshot: name, Path: p, Argv: argv, User: conf.HookUser, Timeout: conf.HookTimeout}
			hr := runner.Run(hctx, h)
			r.Hooks = append(r.Hooks, hr)
			if hr.OK() {
				log.Info(phase+"_snapshot hook of "+sv+" succeeded", "subvolume", sv, "argv", hr.Argv, "duration", time.Duration(hr.Seconds*float64(time.Second)))
			} else {
				hookFailed[phase+"_hook_failed"]++
				log.Error(hr.String(), journal.MessageID(msgid.SnapshotFailed), "subvolume", sv, "hook", phase, "result", hr.Result)
				s.AuditEvent(audit.Event{Action: "snapshot-hook", Subvolume: sv, Path: p, Duration: hr.Seconds, Result: audit.ResultFailure, Error: hr.String()})
			}
			return hr
		}
		var pre *HookResult
		if len(conf.PreSnapshot) > 0 {
			hr := hook(PhasePre, conf.PreSnapshot)
			pre = &hr
		}
		if pre != nil && !pre.OK() && conf.HookFailure != config.HookFailureSnapshot {
			r.Skipped = true
			r.Error = "pre_snapshot hook " + pre.Result + `: snapshot skipped (hook_failure = "skip")`
			failed++
			if len(conf.PostSnapshot) > 0 {
				hook(PhasePost, conf.PostSnapshot)
			}
			log.Error("snapshot of "+sv+" skipped: "+r.Error, journal.MessageID(msgid.SnapshotFailed), "subvolume", sv, "path", p)
			s.AuditEvent(audit.Event{Action: "snapshot", Subvolume: sv, Path: p, Result: audit.ResultFailure, Error: r.Error})
			rep.Snapshots = append(rep.Snapshots, r)
			continue
		}
		t0 := time.Now()
		err := take(fsys, sv, p, Meta{Label: o.Label, Expires: expires, Created: ts})
		r.Seconds = time.Since(t0).Seconds()
		if err == nil {
			created++
		}
		if len(conf.PostSnapshot) > 0 {
			// A failed post-hook fails the run (the application may be
			// left as the pre-hook put it); the snapshot stays.
			hook(PhasePost, conf.PostSnapshot)
		}
		ev := audit.Event{Action: "snapshot", Subvolume: sv, Path: p, Duration: r.Seconds, Result: audit.ResultSuccess}
		if err != nil {
			failed++
			r.Error = explain(sv, err)
			ev.Result, ev.Error = audit.ResultFailure, r.Error
			log.Error("snapshot of "+sv+" failed: "+r.Error, journal.MessageID(msgid.SnapshotFailed),
				"subvolume", sv, "path", p, "error", err)
		} else {
			r.OK = true
			log.Info("snapshot of "+sv+" created at "+p, journal.MessageID(msgid.SnapshotCreated),
				"subvolume", sv, "path", p, "label", o.Label, "duration", time.Duration(r.Seconds*float64(time.Second)))
		}
		s.AuditEvent(ev)
		rep.Snapshots = append(rep.Snapshots, r)
	}
	if o.DryRun {
		return rep, nil
	}
	rec := state.Record{Result: state.ResultSuccess,
		Counters: map[string]int64{"created": int64(created), "failed": int64(failed), "not_due": int64(len(rep.Skipped)),
			"pre_hook_failed": hookFailed["pre_hook_failed"], "post_hook_failed": hookFailed["post_hook_failed"]}}
	rec.Details, _ = json.Marshal(rep)
	switch {
	case stopped != nil:
		err = fmt.Errorf("%w: %d of %d snapshots taken", stopped, created, len(targets))
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	case failed > 0:
		err = fmt.Errorf("%d of %d snapshots failed", failed, len(targets))
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	case hookFailed["post_hook_failed"] > 0:
		err = fmt.Errorf("%d post_snapshot hooks failed (the snapshots were taken)", hookFailed["post_hook_failed"])
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	}
	s.Record(rec)
	return rep, err
}

// failRun reports a run that failed before taking any snapshot: journal,
// audit and a failed-job record.
func failRun(s *job.Session, err error, dryRun bool) {
	if dryRun {
		return
	}
	s.Log.Error("snapshot failed: "+err.Error(), journal.MessageID(msgid.SnapshotFailed), "error", err)
	s.AuditEvent(audit.Event{Action: "snapshot", Result: audit.ResultFailure, Error: err.Error()})
	s.Record(state.Record{Result: state.ResultFailure, Error: err.Error()})
}

// take creates the read-only snapshot of sv at p, with meta's sidecar when
// it has an expiry. On failure it removes whatever it created.
func take(fsys *btrfs.FS, sv, p string, meta Meta) (err error) {
	abs := filepath.Join(fsys.Mountpoint(), p)
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(p), err)
	}
	if !meta.Expires.IsZero() {
		b, _ := json.Marshal(meta)
		if err := safefile.Replace(MetaPath(abs), append(b, '\n'), safefile.Perm{File: 0o600}, safefile.Durable); err != nil {
			return fmt.Errorf("write expiry of %s: %w", p, err)
		}
		defer func() {
			if err != nil {
				os.Remove(MetaPath(abs))
			}
		}()
	}
	if err := fsys.Snapshot(sv, p, true); err != nil {
		// The ioctl is atomic, but never leave a partial snapshot behind.
		if info, ierr := fsys.Info(p); ierr == nil && !errors.Is(err, btrfs.ErrExist) {
			fsys.Delete(info.ID)
		}
		return err
	}
	if ro, err := fsys.ReadOnly(p); err != nil || !ro {
		return errors.Join(fmt.Errorf("snapshot %s is not read-only", p), err)
	}
	return nil
}

// explain turns a snapshot error into a message for the operator.
func explain(sv string, err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Sprintf("no space left on the filesystem for the snapshot of %s (ENOSPC): free space (impermanence-prune, delete manual snapshots) or grow the filesystem; no partial snapshot was left: %v", sv, err)
	case errors.Is(err, btrfs.ErrNotExist):
		return fmt.Sprintf("source subvolume %s does not exist (create it with impermanence-provision, or set snapshot = false): %v", sv, err)
	case errors.Is(err, btrfs.ErrNotSubvolume):
		return fmt.Sprintf("source %s is not a subvolume: %v", sv, err)
	case errors.Is(err, btrfs.ErrExist):
		return fmt.Sprintf("a snapshot of %s with this name exists already: %v", sv, err)
	}
	return err.Error()
}

// targets returns the subvolumes to snapshot: the named ones (which must be
// configured) or every one with snapshot = true.
func targets(s *job.Session, named []string) ([]string, error) {
	if len(named) > 0 {
		if err := checkNamed(s.Config, named); err != nil {
			return nil, err
		}
		return named, nil
	}
	var out []string
	for _, sv := range s.Config.Subvolumes {
		if sv.Snapshot {
			out = append(out, sv.Name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no subvolume has snapshot = true")
	}
	return out, nil
}

// checkNamed refuses a SUBVOLUME argument the configuration does not
// snapshot: one it does not have, an ephemeral one (the next boot erases
// what a snapshot would keep) or one with snapshot = false.
func checkNamed(cfg *config.Config, named []string) error {
	for _, n := range named {
		sv, ok := cfg.Subvolume(n)
		switch {
		case !ok:
			return fmt.Errorf("%s: not a subvolume of the configuration", n)
		case sv.Class == config.Ephemeral:
			return fmt.Errorf("%s: ephemeral, the next boot resets it from its blank: snapshot the permanent subvolumes that keep its data", n)
		case !sv.Snapshot:
			return fmt.Errorf("%s: the configuration does not snapshot it (snapshot = false); set snapshot = true for it", n)
		}
	}
	return nil
}

func taken(existing map[string]bool, dir string, targets []string, ts time.Time, label string) bool {
	n := names.Snapshot(ts, label)
	return slices.ContainsFunc(targets, func(sv string) bool { return existing[path.Join(dir, sv, n)] })
}

// checkDir checks that the snapshots directory is a subvolume.
func checkDir(fsys *btrfs.FS, dir string) error {
	if _, err := fsys.Info(dir); err != nil {
		return fmt.Errorf("snapshots subvolume %s: %w (create it with impermanence-provision)", dir, err)
	}
	return nil
}

// checkMode reports a snapshots directory that others could enter.
func checkMode(abs string) string {
	fi, err := os.Stat(abs)
	if err != nil {
		return ""
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o700 || (st != nil && (st.Uid != 0 || st.Gid != 0)) {
		uid, gid := -1, -1
		if st != nil {
			uid, gid = int(st.Uid), int(st.Gid)
		}
		return fmt.Sprintf("snapshots directory %s is %04o owned by %d:%d, want root:root 0700: other users may read the snapshots (chown root:root, chmod 0700)",
			abs, fi.Mode().Perm(), uid, gid)
	}
	return ""
}

// Print writes the report as text: each snapshot created, skipped or
// failed, each failed hook, each subvolume not due, the warnings.
func (r Report) Print(w io.Writer) {
	verb := "created"
	if r.DryRun {
		verb = "would create"
	}
	for _, s := range r.Snapshots {
		switch {
		case s.OK:
			fmt.Fprintf(w, "%s %s\n", verb, s.Path)
		case s.Skipped:
			fmt.Fprintf(w, "SKIPPED %s: %s\n", s.Path, s.Error)
		default:
			fmt.Fprintf(w, "FAILED %s: %s\n", s.Path, s.Error)
		}
		for _, h := range s.Hooks {
			switch {
			case h.Result == HookDryRun:
				fmt.Fprintf(w, "would run %s_snapshot hook of %s as %s: %s\n", h.Phase, s.Subvolume, h.User, h.Argv)
			case !h.OK():
				fmt.Fprintf(w, "hook failed for %s: %s\n", s.Subvolume, h)
			}
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Subvolume, s.Reason)
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
}

func runList(ctx context.Context, args []string, env job.Env) int {
	fl := flag.NewFlagSet(program+" list", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.RegisterReadOnly(fl) // list only reads and takes no lock: no --lock-timeout
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults() }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	// What a listing allocates is garbage only once it is printed, and the
	// process then exits: the first collection at 16 MiB, not 4 (for 5,000
	// snapshots the one collection at 4 MiB took a third of the listing's
	// CPU time). Put back for a caller in the same process.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	s, err := job.Open(ctx, env, f, program, jobName, true)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	defer s.Close()
	subvols, err := s.FS.List()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	entries := List(subvols, s.Config.Snapshots.Dir, s.FS.Mountpoint())
	if names := fl.Args(); len(names) > 0 {
		entries = slices.DeleteFunc(entries, func(e Entry) bool { return !slices.Contains(names, e.Subvolume) })
	}
	if entries == nil {
		entries = []Entry{}
	}
	// One write per 64 KiB, not one per table cell (tabwriter writes each
	// cell and its padding separately: 70,000 writes for 5,000 snapshots).
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	if f.JSON {
		writeJSON(out, entries)
	} else {
		PrintList(out, entries, s.Now)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: write the list: %v\n", program, err)
		return job.ExitFailure
	}
	return job.ExitOK
}

// writeJSON writes entries as a json.Encoder indenting by two spaces does,
// one entry at a time: encoded whole, 5,000 entries took 15 MB of buffers
// for 2 MB of output.
func writeJSON(w io.Writer, entries []Entry) {
	if len(entries) == 0 {
		io.WriteString(w, "[]\n")
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("  ", "  ") // inside the array; the first line gets no prefix
	io.WriteString(w, "[\n")
	for i := range entries {
		buf.Reset()
		buf.WriteString("  ")
		enc.Encode(&entries[i]) // cannot fail: no maps, no custom marshalers of ours
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if i < len(entries)-1 {
			b = append(b, ',')
		}
		w.Write(append(b, '\n'))
	}
	io.WriteString(w, "]\n")
}

// listHeader is the table's header row.
var listHeader = [...]string{"SUBVOLUME", "SNAPSHOT", "AGE", "KIND", "LABEL", "RO", "EXPIRES"}

// PrintList prints entries as a table, ages relative to now: every column
// but the last as wide as its widest cell and two spaces (text/tabwriter's
// layout, which it replaced: that wrote each cell and its padding on its own
// and allocated for every cell), one line at a time into w.
func PrintList(w io.Writer, entries []Entry, now time.Time) {
	ages := make([]byte, 0, 16*len(entries)) // every entry's age, ending at ageEnd[i]
	ageEnd := make([]int, len(entries))
	var width [len(listHeader) - 1]int
	for i, h := range listHeader[:len(width)] {
		width[i] = len(h)
	}
	for i := range entries {
		e := &entries[i]
		start := len(ages)
		ages = appendAge(ages, e, now)
		ageEnd[i] = len(ages)
		width[0] = max(width[0], cellWidth(dash(e.Subvolume)))
		width[1] = max(width[1], cellWidth(e.Name))
		width[2] = max(width[2], utf8.RuneCount(ages[start:]))
		width[3] = max(width[3], cellWidth(e.Kind))
		width[4] = max(width[4], cellWidth(dash(e.Label)))
		width[5] = max(width[5], len("yes"))
	}
	line := make([]byte, 0, 256)
	cell := func(s string, col int) {
		line = append(line, s...)
		for range width[col] + 2 - cellWidth(s) {
			line = append(line, ' ')
		}
	}
	for i, h := range listHeader[:len(width)] {
		cell(h, i)
	}
	line = append(line, listHeader[len(width)]...)
	w.Write(append(line, '\n'))
	start := 0
	for i := range entries {
		e := &entries[i]
		line = line[:0]
		cell(dash(e.Subvolume), 0)
		cell(e.Name, 1)
		age := ages[start:ageEnd[i]]
		start = ageEnd[i]
		line = append(line, age...)
		for range width[2] + 2 - utf8.RuneCount(age) {
			line = append(line, ' ')
		}
		cell(e.Kind, 3)
		cell(dash(e.Label), 4)
		if e.ReadOnly {
			cell("yes", 5)
		} else {
			cell("NO", 5)
		}
		if e.Expires.IsZero() {
			line = append(line, '-')
		} else {
			line = e.Expires.AppendFormat(line, time.RFC3339)
		}
		w.Write(append(line, '\n'))
	}
	for i := range entries {
		for _, p := range entries[i].Problems {
			line = append(append(append(append(line[:0], "warning: "...), entries[i].Path...), ": "...), p...)
			w.Write(append(line, '\n'))
		}
	}
}

// cellWidth is the width text/tabwriter gives a cell: its runes.
func cellWidth(s string) int { return utf8.RuneCountInString(s) }

// Age is how old the snapshot is at now, by its name's time (otime for an
// unknown name), to the minute; "in the future" when the clock says so.
func Age(e Entry, now time.Time) string { return string(appendAge(nil, &e, now)) }

// appendAge appends Age(e, now) to b.
func appendAge(b []byte, e *Entry, now time.Time) []byte {
	t := e.Time
	if t.IsZero() {
		t = e.OTime
	}
	d := now.Sub(t)
	if d < 0 {
		return append(b, "in the future"...)
	}
	if d < time.Minute {
		return append(b, "<1min"...)
	}
	start := len(b)
	b = timespan.AppendFormat(b, d.Truncate(time.Minute))
	// Without the spaces: "1d 2h" is "1d2h".
	out := start
	for _, c := range b[start:] {
		if c != ' ' {
			b[out] = c
			out++
		}
	}
	return b[:out]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
