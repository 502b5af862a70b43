package diff

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

const program = "impermanence-diff"

const usage = `Usage: impermanence-diff [options] [SUBVOLUME...]

Lists what the next boot will erase: for every ephemeral subvolume (or the
SUBVOLUMEs named) the files, directories, symbolic links and nested
subvolumes that differ from its blank (added, changed, removed, with sizes),
leaving out persisted paths, other subvolumes' mountpoints, /proc, /sys,
/run, /tmp and mounts. Then the orphans: paths on the persist subvolume that
the configuration no longer persists.

Options:
`

const exitHelp = `
Exit status: 0 the comparison was made (whatever it found), 1 it failed,
2 usage error.
`

// Report is the output of a run.
type Report struct {
	Subvolumes []SubvolumeReport `json:"subvolumes"`
	Orphans    []Orphan          `json:"orphans"`
	// PersistSubvolume is where the orphans were looked for ("" = none).
	PersistSubvolume string `json:"persist_subvolume,omitempty"`
}

// SubvolumeReport is the comparison of one ephemeral subvolume.
type SubvolumeReport struct {
	Name             string      `json:"name"`
	Mountpoint       string      `json:"mountpoint"`
	Blank            string      `json:"blank,omitempty"`          // "" = reset to empty
	CapturedFromLive bool        `json:"blank_captured_from_live"` // the blank is a snapshot of the live subvolume (see NewSource)
	Since            uint64      `json:"since_generation"`         // changes after this transaction are listed (see Source)
	Added            int         `json:"added"`
	Changed          int         `json:"changed"`
	Removed          int         `json:"removed"`
	Bytes            uint64      `json:"bytes"` // in added and changed files: lost at the next boot
	Entries          []Entry     `json:"entries"`
	Excluded         []Exclusion `json:"excluded"`
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults().ShowPaths()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.RegisterReadOnly(fl) // no lock taken, so no --lock-timeout
	noOrphans := fl.Bool("no-orphans", false, "do not look for orphans on the persist subvolume")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		// A SUBVOLUME that is not an ephemeral one of the configuration
		// is a usage error, found before the filesystem is reached.
		if cfg, err := job.LoadConfig(f.Config, f.Default); err == nil {
			if _, err := targets(cfg, fl.Args()); err != nil {
				return job.Usage(env, program, "%v", err)
			}
		}
	}
	s, err := job.Open(ctx, env, f, program, "diff", true)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	defer s.Close()
	rep, err := Make(s.Config, s.FS, env.Mountinfo, fl.Args(), !*noOrphans)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	job.Print(env.Stdout, f.JSON, rep, rep.Print)
	return job.ExitOK
}

// Make compares the named ephemeral subvolumes (default: all) with their
// blanks and looks for orphans. mountTable is the mountinfo file to read
// ("" = /proc/self/mountinfo).
func Make(cfg *config.Config, fsys *btrfs.FS, mountTable string, names []string, orphans bool) (Report, error) {
	targets, err := targets(cfg, names)
	if err != nil {
		return Report{}, err
	}
	if mountTable == "" {
		mountTable = "/proc/self/mountinfo"
	}
	all, err := mountinfo.Read(mountTable)
	if err != nil {
		return Report{}, err
	}
	mounted, err := fsys.MountedSubvolumes()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Subvolumes: []SubvolumeReport{}, Orphans: []Orphan{}}
	for _, sv := range targets {
		info, err := fsys.Info(sv.Name)
		if err != nil {
			return rep, err
		}
		ex := Exclusions(cfg, sv, MountsBelow(all, mounted[info.ID], sv.Name))
		entries, src, err := Compute(fsys, sv, ex)
		if err != nil {
			return rep, err
		}
		r := SubvolumeReport{Name: sv.Name, Mountpoint: sv.Mountpoint, Blank: sv.Blank,
			CapturedFromLive: src.Captured, Since: src.Since, Entries: entries, Excluded: ex}
		if r.Entries == nil {
			r.Entries = []Entry{}
		}
		for _, e := range entries {
			switch e.Status {
			case Added:
				r.Added++
				r.Bytes += e.Size
			case Changed:
				r.Changed++
				r.Bytes += e.Size
			case Removed:
				r.Removed++
			}
		}
		rep.Subvolumes = append(rep.Subvolumes, r)
	}
	if orphans {
		if dir, mp, ok := PersistDir(cfg, fsys.Mountpoint()); ok {
			rep.PersistSubvolume = cfg.Persist.Subvolume
			if rep.Orphans, err = Orphans(cfg, dir, mp); err != nil {
				return rep, fmt.Errorf("orphans on %s: %w", cfg.Persist.Subvolume, err)
			}
			if rep.Orphans == nil {
				rep.Orphans = []Orphan{}
			}
		}
	}
	return rep, nil
}

// targets returns the named subvolumes, which must be ephemeral, or all
// ephemeral ones.
func targets(cfg *config.Config, names []string) ([]config.Subvolume, error) {
	if len(names) == 0 {
		out := cfg.Ephemeral()
		if len(out) == 0 {
			return nil, fmt.Errorf("the configuration has no ephemeral subvolume: nothing is erased at boot")
		}
		return out, nil
	}
	var out []config.Subvolume
	for _, n := range names {
		sv, ok := cfg.Subvolume(n)
		switch {
		case !ok:
			return nil, fmt.Errorf("subvolume %s is not in the configuration", n)
		case sv.Class != config.Ephemeral:
			return nil, fmt.Errorf("subvolume %s is %s: the boot does not reset it, so there is nothing to compare (impermanence-snapshot list %s shows its snapshots)", n, sv.Class, n)
		}
		out = append(out, sv)
	}
	return out, nil
}

// MountsBelow returns the mounts of all that lie strictly below a mount of
// subvolume name (self: its mounts), as paths relative to the subvolume's
// root, e.g. "/proc" for a root mounted at "/". A bind mount of a directory
// D inside the subvolume contributes D/<below>.
func MountsBelow(all []btrfs.Mount, self []btrfs.Mount, name string) []string {
	var out []string
	for _, s := range self {
		sub, ok := strings.CutPrefix(s.Root, "/"+name)
		if !ok || (sub != "" && !strings.HasPrefix(sub, "/")) {
			continue // mountinfo names another path: do not guess
		}
		for _, m := range all {
			if m.Mountpoint != s.Mountpoint && Under(m.Mountpoint, s.Mountpoint) {
				below := strings.TrimPrefix(m.Mountpoint, strings.TrimSuffix(s.Mountpoint, "/"))
				out = append(out, path.Join("/", sub, below))
			}
		}
	}
	return out
}

// Print writes the report for people.
func (r Report) Print(w io.Writer) {
	for i, s := range r.Subvolumes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		with := "an empty subvolume"
		switch {
		case s.CapturedFromLive:
			with = s.Blank + " (captured from it)"
		case s.Blank != "":
			with = s.Blank
		}
		fmt.Fprintf(w, "%s (%s), compared with %s: %d added, %d changed, %d removed; %d bytes in added and changed files\n",
			s.Name, s.Mountpoint, with, s.Added, s.Changed, s.Removed, s.Bytes)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		for _, e := range s.Entries {
			size := fmt.Sprint(e.Size)
			if e.Type == "dir" || e.Type == "subvolume" {
				size = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t  %s\n", e.Status, e.Type, size, e.Path)
		}
		tw.Flush()
		if len(s.Excluded) > 0 {
			fmt.Fprintln(w, "not compared:")
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, e := range s.Excluded {
				fmt.Fprintf(tw, "  %s\t%s\n", e.Path, e.Reason)
			}
			tw.Flush()
		}
	}
	if r.PersistSubvolume == "" {
		return
	}
	fmt.Fprintln(w)
	if len(r.Orphans) == 0 {
		fmt.Fprintf(w, "orphans on %s: none\n", r.PersistSubvolume)
		return
	}
	fmt.Fprintf(w, "orphans on %s (kept across boots, but no persisted path covers them any more):\n", r.PersistSubvolume)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, o := range r.Orphans {
		fmt.Fprintf(tw, "  %s\t%d bytes in %d %s\t  %s (was %s)\n", o.Type, o.Size, o.Files, plural(o.Files, "file"), o.Path, o.For)
	}
	tw.Flush()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
