package provision

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// maxDpkgStatus bounds the dpkg status file read per blank (a full
// server's is a few MiB).
const maxDpkgStatus = 64 << 20

// runBlanks is --list-blanks (read-only, no lock) and --mark-good.
func runBlanks(ctx context.Context, env job.Env, f job.Flags, list, tsv bool) int {
	s, err := job.Open(ctx, env, f, program, jobName, list || f.DryRun)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	defer s.Close()
	if list {
		return listBlanks(s, f, tsv)
	}
	return markGood(s, f)
}

// blankRow is one entry of --list-blanks.
type blankRow struct {
	blanks.Entry
	// Roles: current, running (the live root came from it), fallback
	// (the previous good blank of a trial), trial (with its count).
	Roles []string `json:"roles"`
	// Packages changed since the next older entry, when both have a dpkg
	// status file.
	Packages *blanks.PackageDiff `json:"packages,omitempty"`
	// Kernel is the newest kernel with an initrd in the blank's own
	// /boot; nil when it has none (/boot is a separate mount).
	Kernel *blanks.Kernel `json:"kernel,omitempty"`
	// Request is the server-impermanence.blank= value that boots a former
	// blank ("" for the current one).
	Request string `json:"request,omitempty"`
}

type blankList struct {
	Subvolume string        `json:"subvolume"`
	Blank     string        `json:"blank"`
	Keep      int           `json:"keep"`
	Tries     int           `json:"tries"`
	Trial     *blanks.Trial `json:"trial,omitempty"`
	Entries   []blankRow    `json:"entries"`
}

func listBlanks(s *job.Session, f job.Flags, tsv bool) int {
	owner, ok := blanks.Owner(s.Config)
	if !ok {
		fmt.Fprintf(s.Env.Stderr, "%s: no ephemeral subvolume has a blank\n", program)
		return job.ExitFailure
	}
	subs, err := subvolumeMap(s.FS)
	if err != nil {
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	trial, err := blanks.ReadTrial(s.FS.Mountpoint(), blanks.TrialPath(s.Config))
	if err != nil {
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	out := blankList{Subvolume: owner.Name, Blank: owner.Blank, Keep: s.Config.Blank.Keep, Tries: s.Config.Blank.Tries, Trial: trial}
	running := ""
	if live, ok := subs[owner.Name]; ok && !live.ParentUUID.IsZero() {
		running = live.ParentUUID.String()
	}
	hist := blanks.History(owner.Blank, subs)
	pkgs := make([]map[string]string, len(hist))
	for i, e := range hist {
		pkgs[i] = dpkgPackages(s.FS.Mountpoint(), e.Name)
		r := blankRow{Entry: e, Roles: []string{}, Kernel: bootKernel(s.FS.Mountpoint(), e.Name), Request: blanks.RequestFor(e)}
		if e.Current {
			r.Roles = append(r.Roles, "current")
		}
		if e.UUID == running {
			r.Roles = append(r.Roles, "running")
		}
		if trial != nil && trial.Blank == owner.Blank {
			switch e.UUID {
			case trial.UUID:
				r.Roles = append(r.Roles, fmt.Sprintf("trial %d/%d", trial.Tries, s.Config.Blank.Tries))
			case trial.FallbackUUID:
				r.Roles = append(r.Roles, "fallback")
			}
		}
		out.Entries = append(out.Entries, r)
	}
	for i := range out.Entries {
		if i+1 < len(pkgs) && pkgs[i] != nil && pkgs[i+1] != nil {
			d := blanks.DiffPackages(pkgs[i+1], pkgs[i])
			out.Entries[i].Packages = &d
		}
	}
	print := out.print
	if tsv {
		print = out.printTSV
	}
	if err := job.Print(s.Env.Stdout, f.JSON, out, print); err != nil {
		return job.ExitFailure
	}
	return job.ExitOK
}

// printTSV is --list-blanks --tsv, for scripts (the GRUB menu of former
// blanks): one line per blank, newest first, nothing when there is none;
// tab-separated fields that never hold a tab or a newline, "-" for none:
// subvolume, name, current|former, committed (RFC 3339, UTC), generation,
// ro|rw, roles (comma-separated, as in the table), the
// server-impermanence.blank= value, kernel version, kernel and initrd
// (relative to the blank).
func (l blankList) printTSV(w io.Writer) {
	for _, e := range l.Entries {
		kind, ro := "former", "rw"
		if e.Current {
			kind = "current"
		}
		if e.ReadOnly {
			ro = "ro"
		}
		var k blanks.Kernel
		if e.Kernel != nil {
			k = *e.Kernel
		}
		fields := []string{l.Subvolume, e.Name, kind, e.Committed.Format(time.RFC3339), strconv.FormatUint(e.Generation, 10), ro,
			dash(strings.Join(e.Roles, ",")), dash(e.Request), dash(k.Version), dash(k.Linux), dash(k.Initrd)}
		fmt.Fprintln(w, strings.Join(fields, "\t"))
	}
}

// bootKernel returns the newest kernel of the blank at rel (relative to
// the top level top) in its own /boot; nil when it has none or the
// directory cannot be read.
func bootKernel(top, rel string) *blanks.Kernel {
	dir := filepath.Join(top, rel, blanks.BootDir)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			files = append(files, e.Name())
		}
	}
	k, ok := blanks.NewestKernel(files)
	if !ok {
		return nil
	}
	return &k
}

func (l blankList) print(w io.Writer) {
	fmt.Fprintf(w, "%s: blanks of %s (keep %d former, %d trial boot(s)):\n", program, l.Subvolume, l.Keep, l.Tries)
	if len(l.Entries) == 0 {
		fmt.Fprintf(w, "  none: %s does not exist\n", l.Blank)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tCOMMITTED\tGENERATION\tROLES\tPACKAGES")
	for _, e := range l.Entries {
		roles := strings.Join(e.Roles, ", ")
		if !e.ReadOnly {
			roles = strings.TrimPrefix(roles+", writable!", ", ")
		}
		p := "-"
		if e.Packages != nil {
			p = e.Packages.String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\n", e.Name, names.Time(e.Committed), e.Generation, dash(roles), p)
	}
	tw.Flush()
	for _, e := range l.Entries {
		if e.Packages == nil {
			continue
		}
		for _, p := range e.Packages.Added {
			fmt.Fprintf(w, "  %s: + %s\n", e.Name, p)
		}
		for _, p := range e.Packages.Removed {
			fmt.Fprintf(w, "  %s: - %s\n", e.Name, p)
		}
		for _, p := range e.Packages.Changed {
			fmt.Fprintf(w, "  %s: ~ %s\n", e.Name, p)
		}
	}
}

// dpkgPackages reads the installed packages of the blank at rel; nil when
// it has no dpkg status file (not a Debian root) or it cannot be read.
func dpkgPackages(top, rel string) map[string]string {
	b, err := safefile.ReadFile(filepath.Join(top, rel, blanks.DpkgStatus), maxDpkgStatus)
	if err != nil {
		return nil
	}
	return blanks.Packages(b)
}

// markGood removes the trial when this boot was one of its trial boots:
// the blank is good. Anything else is success with nothing to do.
func markGood(s *job.Session, f job.Flags) int {
	rel := blanks.TrialPath(s.Config)
	trial, err := blanks.ReadTrial(s.FS.Mountpoint(), rel)
	if err != nil {
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	if trial == nil {
		fmt.Fprintf(s.Env.Stdout, "%s: no blank on trial\n", program)
		return job.ExitOK
	}
	st, ok, err := blanks.ReadStatus(s.Env.RunDir())
	if err != nil {
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	var this *blanks.Choice
	for i, c := range st.Choices {
		if c.Subvolume == trial.Subvolume {
			this = &st.Choices[i]
		}
	}
	switch {
	case !ok || this == nil:
		fmt.Fprintf(s.Env.Stdout, "%s: %s is on trial, but this boot's rollback recorded no blank for %s: nothing marked\n", program, trial.Blank, trial.Subvolume)
		return job.ExitOK
	case this.Source != blanks.SourceTrial || this.UUID != trial.UUID:
		fmt.Fprintf(s.Env.Stdout, "%s: %s is on trial, but this boot came from %s (%s): nothing marked\n", program, trial.Blank, this.From, this.Source)
		return job.ExitOK
	}
	if f.DryRun {
		fmt.Fprintf(s.Env.Stdout, "%s: would mark %s good (dry run)\n", program, trial.Blank)
		return job.ExitOK
	}
	err = blanks.RemoveTrial(s.FS.Mountpoint(), rel)
	ev := audit.Event{Action: "blank-good", Subvolume: trial.Subvolume, Path: trial.Blank, Result: audit.ResultSuccess}
	if err != nil {
		ev.Result, ev.Error = audit.ResultFailure, err.Error()
	}
	s.AuditEvent(ev)
	if err != nil {
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	s.Log.Info(fmt.Sprintf("blank %s is good: trial boot %d reached boot-complete.target", trial.Blank, trial.Tries),
		journal.MessageID(msgid.BlankGood), "subvolume", trial.Subvolume, "blank", trial.Blank, "uuid", trial.UUID)
	fmt.Fprintf(s.Env.Stdout, "%s: %s is good (trial boot %d of %d reached boot-complete.target)\n", program, trial.Blank, trial.Tries, s.Config.Blank.Tries)
	return job.ExitOK
}

// committed logs a finished commit among the actions done, and updates
// this boot's blank status: no fallback in effect any more, the new
// history size.
func committed(s *job.Session, done []Action) {
	for _, a := range done {
		if a.Op != OpReplace || a.Commit == nil {
			continue
		}
		c := a.Commit
		s.Log.Info(fmt.Sprintf("committed a new blank %s from %s; the previous one is %s", c.Blank, a.From, c.Retire),
			journal.MessageID(msgid.BlankCommitted), "subvolume", c.Subvolume, "blank", c.Blank, "retired", c.Retire,
			"deleted", strings.Join(c.Delete(), " "), "trial", c.Trial != nil)
		st, ok, err := blanks.ReadStatus(s.Env.RunDir())
		if err != nil || !ok {
			continue
		}
		subs, err := subvolumeMap(s.FS)
		if err != nil {
			continue
		}
		for i := range st.Choices {
			if st.Choices[i].Subvolume == c.Subvolume {
				st.Choices[i].Fallback = false
				st.Choices[i].History = len(blanks.Former(blanks.History(c.Blank, subs)))
			}
		}
		if err := blanks.WriteStatus(s.Env.RunDir(), st); err != nil {
			s.Log.Warn("blank status not updated", "error", err)
		}
	}
}

func subvolumeMap(fsys *btrfs.FS) (map[string]btrfs.Subvolume, error) {
	list, err := fsys.List()
	if err != nil {
		return nil, err
	}
	m := make(map[string]btrfs.Subvolume, len(list))
	for _, s := range list {
		m[s.Path] = s
	}
	return m, nil
}

// mountedIDs returns the ids of the mounted subvolumes of fsys.
func mountedIDs(fsys *btrfs.FS) (map[uint64]bool, error) {
	m, err := fsys.MountedSubvolumes()
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]bool, len(m))
	for id := range m {
		out[id] = true
	}
	return out, nil
}
