package provision

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

const (
	program = "impermanence-provision"
	jobName = "provision"
)

const usage = `Usage: impermanence-provision [options]

Creates on the configured btrfs filesystem everything the configuration
describes and that is missing: subvolumes (NoCoW and compression set while
empty), each ephemeral subvolume's read-only blank, the snapshots subvolume
(root:root 0700) and the archive directory. Idempotent: what exists is never
changed; where it differs from the configuration it is reported. The one
exception is a commit (--commit, or --blank-from with --replace-blank),
which makes a new capture the root's blank and keeps the one it replaces in
the history of blanks, never leaving the filesystem without a valid one.
It takes the filesystem job lock, like the rollback, snapshot and prune.

  impermanence-provision --commit            commit the running root
  impermanence-provision --list-blanks       the history of blanks
                                             (--json, or --tsv for scripts)
  impermanence-provision --mark-good         (boot-complete) this boot's
                                             trial blank is good

Options:
`

const exitHelp = `
Exit status: 0 done (or nothing to do), 1 failure, 2 usage error,
3 the existing layout differs from the configuration (see the mismatches).
A compression property that the next boot sets (the rollback on an ephemeral
subvolume, server-impermanence-tune.service on the others) is a warning.
`

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	flags := flag.NewFlagSet(program, flag.ContinueOnError)
	flags.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(flags, true)
	blankFrom := flags.String("blank-from", "", "capture the root's blank from a `path` (absolute directory, copied) or subvolume (relative to the top level, snapshotted)")
	replace := flags.Bool("replace-blank", false, "with --blank-from: replace the existing blank with a new capture (atomic exchange; the old blank goes into the history)")
	commit := flags.Bool("commit", false, "commit the running root (or --blank-from) as the new blank; the old one goes into the history, the new one is on trial")
	list := flags.Bool("list-blanks", false, "list the history of blanks (with the packages changed between entries where dpkg is found) and exit")
	tsv := flags.Bool("tsv", false, "with --list-blanks: one tab-separated line per blank, for scripts (the GRUB menu of former blanks)")
	markGood := flags.Bool("mark-good", false, "mark the blank this boot came from good when this was one of its trial boots (server-impermanence-blank-good.service)")
	flags.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		flags.PrintDefaults()
		fmt.Fprint(env.Stderr, exitHelp)
	}
	if done, code := job.ParseFlags(flags, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, flags.Arg(0))
		return job.ExitUsage
	}
	modes := 0
	for _, b := range []bool{*commit || *replace, *list, *markGood} {
		if b {
			modes++
		}
	}
	if modes > 1 {
		fmt.Fprintf(env.Stderr, "%s: --commit (or --replace-blank), --list-blanks and --mark-good exclude each other\n", program)
		return job.ExitUsage
	}
	if *tsv && (!*list || f.JSON) {
		fmt.Fprintf(env.Stderr, "%s: --tsv goes with --list-blanks, without --json\n", program)
		return job.ExitUsage
	}
	if *list || *markGood {
		return runBlanks(ctx, env, f, *list, *tsv)
	}
	if *commit {
		*replace = true
	}
	if *replace && *blankFrom == "" && !*commit {
		fmt.Fprintf(env.Stderr, "%s: --replace-blank needs --blank-from (where to capture the new blank from)\n", program)
		return job.ExitUsage
	}
	if strings.HasSuffix(*blankFrom, TempSuffix) {
		fmt.Fprintf(env.Stderr, "%s: --blank-from %s: a name ending in %s is a leftover that provision removes\n", program, *blankFrom, TempSuffix)
		return job.ExitUsage
	}
	// Observe and change under the lock, so the plan is still true when it
	// is carried out and no other job sees a half-done change.
	s, err := job.Open(ctx, env, f, program, jobName, f.DryRun)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	o := Options{BlankFrom: *blankFrom, ReplaceBlank: *replace}
	if *commit && o.BlankFrom == "" {
		owner, ok := blanks.Owner(s.Config)
		if !ok {
			s.Close()
			fmt.Fprintf(env.Stderr, "%s: --commit: no ephemeral subvolume has a blank to commit\n", program)
			return job.ExitFailure
		}
		o.BlankFrom = owner.Name
	}
	code := run(ctx, s, f, o)
	if err := s.Close(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
	}
	return code
}

// run observes, plans, applies (unless a dry run) and reports.
func run(ctx context.Context, s *job.Session, f job.Flags, o Options) int {
	stderr := s.Env.Stderr
	obs, err := Observe(s.FS, Paths(s.Config))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	if o.ReplaceBlank {
		if o.Trial, err = blanks.ReadTrial(s.FS.Mountpoint(), blanks.TrialPath(s.Config)); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
			return job.ExitFailure
		}
		if o.Mounted, err = mountedIDs(s.FS); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
			return job.ExitFailure
		}
		o.Now = s.Now
	}
	plan := Plan(s.Config, obs, o)
	out := report{Device: s.Device, DryRun: f.DryRun, Result: plan}
	code := job.ExitOK
	if !f.DryRun {
		out.Done, err = Apply(ctx, s.FS, plan.Actions, s.Log, auditor(s))
		if err != nil {
			out.Error = err.Error()
			code = job.ExitFailure
		}
		if errors.Is(err, job.ErrStopped) {
			s.LogStopped(fmt.Errorf("%w after %d of %d steps", err, out.Done, len(plan.Actions)))
		}
		committed(s, plan.Actions[:out.Done])
		if out.Layout, err = Layout(s.Config, s.FS); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
			code = job.ExitFailure
		}
	}
	if code == job.ExitOK && len(plan.Mismatches) > 0 {
		code = job.ExitMismatch
	}
	if err := job.Print(s.Env.Stdout, f.JSON, out, out.print); err != nil {
		return job.ExitFailure
	}
	if out.Error != "" {
		fmt.Fprintf(stderr, "%s: %s (%d of %d steps done; run again to finish)\n", program, out.Error, out.Done, len(plan.Actions))
	}
	return code
}

// auditor returns what Apply records each change with: an audit event of
// the session.
func auditor(s *job.Session) Record {
	return func(act Action, took time.Duration, err error) {
		ev := audit.Event{Action: string(act.Op), Path: act.Path, Result: audit.ResultSuccess, Duration: took.Seconds()}
		if err != nil {
			ev.Result, ev.Error = audit.ResultFailure, err.Error()
		}
		s.AuditEvent(ev)
	}
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
	for _, s := range subs {
		if b, _, ok := names.ParseBlankHistory(s.Path); ok {
			if owner, ok := roles[b]; ok && strings.HasPrefix(owner.Role, "blank of ") {
				roles[s.Path] = LayoutRow{Role: "former " + owner.Role}
			}
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
