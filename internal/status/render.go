package status

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/human"
)

// Width is the width the text fits.
const Width = 80

// indent is where a problem's text starts, after its severity.
const indent = 10

// ANSI styles, used only when Render is told the output is a terminal.
const (
	red    = "\x1b[1;31m"
	yellow = "\x1b[33m"
	green  = "\x1b[32m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

type painter bool

func (p painter) paint(style, s string) string {
	if !p {
		return s
	}
	return style + s + reset
}

// jobTimers are the timers that start each job, for the next run.
var jobTimers = map[string]string{
	"snapshot":    "server-snapshots.timer",
	"cleanup":     "server-snapshots-cleanup.timer",
	"maintenance": "btrfs-maintenance.timer",
	"balance":     "btrfs-maintenance.timer",
	"scrub":       "server-impermanence-scrub.timer",
}

// jobOrder is the order of the jobs table.
var jobOrder = []string{"snapshot", "cleanup", "maintenance", "balance", "scrub", "send", "restore"}

// Render writes the report for people: the verdict, the problems, then the
// facts, in Width columns; colour adds ANSI colours (a terminal only).
func Render(w io.Writer, r Report, colour bool) error {
	p := painter(colour)
	var b strings.Builder
	f := r.Facts
	when := f.Now.Format("2006-01-02 15:04 MST")
	switch n := len(r.Problems); n {
	case 0:
		fmt.Fprintf(&b, "server-impermanence: %s (%s)\n", p.paint(green, "healthy"), when)
	case 1:
		fmt.Fprintf(&b, "server-impermanence: %s (%s)\n", p.paint(bold, "1 problem needs attention"), when)
	default:
		fmt.Fprintf(&b, "server-impermanence: %s (%s)\n", p.paint(bold, fmt.Sprintf("%d problems need attention", n)), when)
	}
	for _, pr := range r.Problems {
		b.WriteString("\n")
		sev, style := "WARNING", yellow
		if pr.Severity == Critical {
			sev, style = "CRITICAL", red
		}
		lines := wrap(pr.Summary, Width-indent)
		for _, d := range strings.Split(pr.Detail, "\n") {
			if d != "" {
				lines = append(lines, wrap(d, Width-indent)...)
			}
		}
		for _, c := range pr.Commands {
			lines = append(lines, "$ "+c)
		}
		lines = append(lines, "(alert "+pr.Alert+")")
		for i, l := range lines {
			head := strings.Repeat(" ", indent)
			if i == 0 {
				head = p.paint(style, sev) + strings.Repeat(" ", indent-len(sev))
			}
			b.WriteString(head + l + "\n")
		}
	}

	section := func(name string) { b.WriteString("\n" + p.paint(bold, name) + "\n") }

	section("Rollback")
	switch rb := f.Rollback; {
	case rb == nil:
		b.WriteString("  no record: the rollback has never run\n")
	default:
		which := "at this boot"
		if !rb.ThisBoot {
			which = "at an earlier boot (none at this one)"
		}
		fmt.Fprintf(&b, "  %s %s, %s ago, took %s\n", rb.Result, which, shortDuration(f.Now.Sub(rb.Time)), secondsText(rb.Duration))
		for _, rs := range rb.Resets {
			from := "an empty subvolume"
			if rs.Blank != "" {
				from = "blank " + rs.Blank
			}
			if rs.Fallback {
				from = "the fallback " + from
			}
			line := fmt.Sprintf("%s reset from %s", rs.Subvolume, from)
			for _, a := range rb.Archives {
				if path.Base(path.Dir(a)) == rs.Subvolume {
					line += "; previous state archived as " + a
				}
			}
			para(&b, line)
		}
		for _, wn := range rb.Warnings {
			para(&b, "warning: "+wn)
		}
	}

	if slices.ContainsFunc(f.Subvolumes, func(s Subvolume) bool { return s.Snapshot }) {
		section("Snapshots")
		rows := [][]string{{"subvolume", "timeline", "newest", "oldest", "manual", "every"}}
		var retention []string           // distinct, in order
		holders := map[string][]string{} // the subvolumes of each
		for _, sv := range f.Subvolumes {
			if !sv.Snapshot {
				continue
			}
			every := "-"
			if sv.ScheduleInterval > 0 {
				every = shortDuration(time.Duration(sv.ScheduleInterval))
			}
			if sv.SnapshotsUnknown {
				rows = append(rows, []string{sv.Name, "?", "?", "?", "?", every})
			} else {
				rows = append(rows, []string{sv.Name, fmt.Sprint(sv.Timeline.Count), age(f.Now, sv.Timeline.Newest),
					age(f.Now, sv.Timeline.Oldest), fmt.Sprint(sv.Manual.Count), every})
			}
			if !slices.Contains(retention, sv.Retention) {
				retention = append(retention, sv.Retention)
			}
			holders[sv.Retention] = append(holders[sv.Retention], sv.Name)
		}
		table(&b, rows, []bool{false, true, false, false, true, false})
		for _, r := range retention {
			if len(retention) == 1 {
				para(&b, "retention: "+r)
			} else {
				para(&b, "retention of "+strings.Join(holders[r], ", ")+": "+r)
			}
		}
	}

	if slices.ContainsFunc(f.Subvolumes, func(s Subvolume) bool { return s.Archives != nil }) {
		section("Archives")
		rows := [][]string{{"subvolume", "archives", "newest", "oldest"}}
		for _, sv := range f.Subvolumes {
			if sv.Archives != nil {
				rows = append(rows, []string{sv.Name, fmt.Sprint(sv.Archives.Count), age(f.Now, sv.Archives.Newest), age(f.Now, sv.Archives.Oldest)})
			}
		}
		table(&b, rows, []bool{false, true, false, false})
		keep := fmt.Sprintf("kept %s, at least %d", shortDuration(time.Duration(f.Thresholds.ArchiveKeepAge)), f.Thresholds.ArchiveKeepMin)
		if f.ArchivesTaken.IsZero() {
			keep += "; no inventory yet (the rollback and the cleanup record it)"
		} else {
			keep += fmt.Sprintf("; counted by the %s %s ago", f.ArchivesJob, shortDuration(f.Now.Sub(f.ArchivesTaken)))
		}
		if f.Thresholds.ArchiveKeepAge == 0 {
			keep = "retention unknown (invalid configuration)"
		}
		para(&b, keep)
	}

	section("Filesystem")
	if fs := f.Filesystem; fs != nil {
		name := fs.UUID
		if fs.Label != "" {
			name = fs.Label + " (" + fs.UUID + ")"
		}
		b.WriteString("  " + name + "\n")
		ratio := 0.0
		if fs.Size > 0 {
			ratio = float64(fs.Free) / float64(fs.Size)
		}
		fmt.Fprintf(&b, "  %s free of %s (%s), %s unallocated\n", human.Bytes(fs.Free), human.Bytes(fs.Size), percent(ratio), human.Bytes(fs.Unallocated))
		if len(fs.DeviceErrors) == 0 {
			b.WriteString("  device errors: none\n")
		} else {
			var es []string
			for i, e := range fs.DeviceErrors {
				c := fmt.Sprintf("%d %s", e.Count, e.Type)
				if i == 0 || fs.DeviceErrors[i-1].Devid != e.Devid {
					c = "device " + e.Devid + ": " + c
				}
				es = append(es, c)
			}
			para(&b, "device errors: "+strings.Join(es, ", "))
		}
	} else {
		b.WriteString("  not found\n")
	}
	sc := f.Scrub
	scrub := "scrub: "
	switch {
	case !sc.LastCompleted.IsZero():
		scrub += "last complete pass " + shortDuration(f.Now.Sub(sc.LastCompleted)) + " ago"
		if sc.Progress < 1 && !sc.Started.IsZero() && sc.Started.After(sc.LastCompleted) {
			scrub += ", current pass " + percent(sc.Progress) + " done"
		}
	case !sc.Started.IsZero():
		scrub += "first pass " + percent(sc.Progress) + " done, started " + shortDuration(f.Now.Sub(sc.Started)) + " ago"
	case sc.Enabled:
		scrub += "never run"
	default:
		scrub += "off"
	}
	if len(sc.Errors) == 0 {
		scrub += "; no errors"
	} else {
		var es []string
		for _, t := range slices.Sorted(keys(sc.Errors)) {
			es = append(es, fmt.Sprintf("%d %s", sc.Errors[t], t))
		}
		scrub += "; errors: " + strings.Join(es, ", ")
	}
	para(&b, scrub)

	section("Configuration")
	cfg := f.Config.Path + ": "
	if f.Config.Valid {
		cfg += "valid"
	} else {
		cfg += "invalid"
	}
	switch s := f.Config.InitrdStale; {
	case s == nil:
		cfg += "; initrd copy: not compared (no rollback at this boot)"
	case *s:
		cfg += "; initrd copy: stale"
	default:
		cfg += "; initrd copy: current"
	}
	para(&b, cfg)

	section("Jobs")
	units := map[string]Unit{}
	for _, u := range f.Units {
		units[u.Unit] = u
	}
	rows := [][]string{{"job", "result", "last run", "took", "next run"}}
	for _, name := range jobOrder {
		var j *Job
		for i := range f.Jobs {
			if f.Jobs[i].Job == name {
				j = &f.Jobs[i]
			}
		}
		next := next(units[jobTimers[name]], f.Now)
		if j == nil {
			if next != "-" {
				rows = append(rows, []string{name, "never run", "-", "-", next})
			}
			continue
		}
		rows = append(rows, []string{name, j.Result, age(f.Now, j.LastRun), secondsText(j.Duration), next})
	}
	if len(rows) == 1 {
		b.WriteString("  no job has run\n")
	} else {
		table(&b, rows, []bool{false, false, false, true, false})
	}
	if len(f.Units) == 0 {
		b.WriteString("  units: not read from systemd\n")
	} else {
		n, failed := 0, 0
		for _, u := range f.Units {
			if u.Loaded {
				n++
				if u.Result != "" && u.Result != "success" {
					failed++
				}
			}
		}
		fmt.Fprintf(&b, "  units: %d loaded, %d not successful\n", n, failed)
	}

	if len(f.Targets) > 0 {
		section("Replication")
		rows := [][]string{{"target", "subvolume", "last success", "newest held", "held", "next run"}}
		for _, t := range f.Targets {
			rows = append(rows, []string{t.Target, t.Subvolume, age(f.Now, t.LastSuccess), age(f.Now, t.Newest),
				fmt.Sprint(t.Snapshots), next(units["server-impermanence-send@"+t.Target+".timer"], f.Now)})
		}
		table(&b, rows, []bool{false, false, false, false, true, false})
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// next is when the timer u elapses next: "in 3h", "timer inactive", or "-"
// (not loaded, or not read).
func next(u Unit, now time.Time) string {
	switch {
	case !u.Loaded:
		return "-"
	case !u.NextElapse.IsZero():
		return "in " + shortDuration(u.NextElapse.Sub(now))
	}
	return "timer " + u.ActiveState
}

// para writes text indented by two, its continuation lines by four, in
// Width columns.
func para(b *strings.Builder, text string) {
	for i, l := range wrap(text, Width-4) {
		if i == 0 {
			b.WriteString("  " + l + "\n")
		} else {
			b.WriteString("    " + l + "\n")
		}
	}
}

// age is "3h ago", or "-" for a zero time.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return shortDuration(now.Sub(t)) + " ago"
}

// table writes rows as columns two spaces apart, indented by two, the
// right-aligned ones where right says; rows[0] is the header. When that is
// wider than Width (a long subvolume name), each row is a paragraph
// instead: its first cell, then "header value" for the others.
func table(b *strings.Builder, rows [][]string, right []bool) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	total := 2 + 2*(len(widths)-1)
	for _, w := range widths {
		total += w
	}
	if total > Width {
		for _, r := range rows[1:] {
			parts := make([]string, 0, len(r)-1)
			for i, c := range r[1:] {
				parts = append(parts, rows[0][i+1]+" "+c)
			}
			para(b, r[0]+": "+strings.Join(parts, ", "))
		}
		return
	}
	for _, r := range rows {
		var line strings.Builder
		line.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + c)
			} else if i < len(r)-1 {
				line.WriteString(c + pad)
			} else {
				line.WriteString(c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// wrap breaks s into lines of at most width runes at spaces (a longer word
// stays whole on its own line).
func wrap(s string, width int) []string {
	var lines []string
	var cur string
	for _, word := range strings.Fields(s) {
		switch {
		case cur == "":
			cur = word
		case len([]rune(cur))+1+len([]rune(word)) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
