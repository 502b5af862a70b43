package status

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Severities, as the alert rules' severity label.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Problem is one thing that needs attention.
type Problem struct {
	Severity string `json:"severity"`
	// Alert is the shipped alert rule that fires (or would, once its
	// for: has passed) for the same condition; its runbook is
	// docs/alerts.md.
	Alert string `json:"alert"`
	// Summary says what is wrong, in plain words; Detail is the record's
	// own error when there is one.
	Summary string `json:"summary"`
	Detail  string `json:"detail,omitempty"`
	// Commands explain or fix it, in the order to try them.
	Commands []string `json:"commands"`
}

// Report is the status: the problems, most severe first, and the facts.
type Report struct {
	Healthy  bool      `json:"healthy"`
	Problems []Problem `json:"problems"`
	Facts    Facts     `json:"facts"`
}

// Assess decides the problems of f. Each is the condition of a shipped
// alert rule evaluated now, without the rule's for: delay (device errors:
// any non-zero counter, since a status has no history to take an
// increase over).
func Assess(f Facts) Report {
	var ps []Problem
	add := func(sev, alert, summary, detail string, cmds ...string) {
		ps = append(ps, Problem{Severity: sev, Alert: alert, Summary: summary, Detail: detail, Commands: cmds})
	}
	now := f.Now
	th := f.Thresholds

	if !f.Config.Valid {
		summary := "The configuration " + f.Config.Path + " is invalid: destructive units are not generated and the next rollback refuses."
		if f.Config.Error != "" && strings.Contains(f.Config.Error, "no configuration file") {
			summary = "There is no configuration " + f.Config.Path + ": the suite does nothing."
		}
		add(Critical, "ImpermanenceConfigInvalid", summary, f.Config.Error,
			"server-impermanence-generator --check")
	}

	if r := f.Rollback; r != nil && r.ThisBoot {
		switch r.Result {
		case state.ResultFailure, state.ResultRefused:
			detail := r.Error
			for _, w := range r.What {
				detail += "\n" + w
			}
			add(Critical, "ImpermanenceRollbackFailed",
				"The boot rollback "+verb(r.Result)+": this boot runs with the previous state of its ephemeral subvolumes.",
				strings.TrimSpace(detail),
				"journalctl -b -u server-impermanence-setup.service", "cat /run/server-impermanence/rollback.json")
		case state.ResultSkipped:
			add(Warning, "ImpermanenceRollbackSkipped",
				"The boot rollback was skipped at this boot: the ephemeral subvolumes kept their previous state.",
				r.Reason, "cat /proc/cmdline", "journalctl -b -u server-impermanence-setup.service")
		}
		for _, rs := range r.Resets {
			if rs.Fallback {
				add(Critical, "ImpermanenceBlankFallback",
					fmt.Sprintf("%s was reset from the fallback blank %s: the newly committed blank failed its trial boots, and every boot uses the previous good one until the next commit.", rs.Subvolume, rs.Blank), "",
					"journalctl --list-boots", "impermanence-provision --list-blanks", "cat /run/server-impermanence/blank.json")
			}
		}
		if th.RollbackSlow > 0 && r.Duration > time.Duration(th.RollbackSlow).Seconds() {
			add(Warning, "ImpermanenceRollbackSlow",
				fmt.Sprintf("The boot rollback took %s, more than [alerts].rollback_slow (%s).",
					secondsText(r.Duration), shortDuration(time.Duration(th.RollbackSlow))), "",
				"journalctl -b -u server-impermanence-setup.service")
		}
	} else if !f.unreadable("jobs") {
		add(Warning, "ImpermanenceRollbackSkipped",
			"The boot rollback left no record at this boot: it did not run (is the dracut module in the initrd?).", "",
			"journalctl -b -u server-impermanence-setup.service", "lsinitrd | grep server-impermanence")
	}

	if f.Config.InitrdStale != nil && *f.Config.InitrdStale {
		add(Warning, "ImpermanenceInitrdConfigStale",
			"The initrd carries an older configuration than /etc: the next rollback uses the old one.", "",
			"update-initramfs -u", "dracut -f")
	}

	for _, j := range f.Jobs {
		if j.Job == "snapshot" && j.HookFailures > 0 {
			add(Warning, "ImpermanenceSnapshotHookFailed", fmt.Sprintf("%d snapshot hook(s) failed in the last snapshot run%s: a snapshot skipped or taken without the application's help.",
				j.HookFailures, ago(now, j.LastRun)), "",
				"journalctl -u server-snapshots.service", "server-impermanence-generator --check")
		}
		failed := j.Result == state.ResultFailure || j.Result == state.ResultRefused
		switch {
		case j.Job == "snapshot" && failed:
			add(Critical, "ImpermanenceSnapshotFailed", "The last snapshot run "+verb(j.Result)+ago(now, j.LastRun)+".", j.Error,
				"journalctl -u server-snapshots.service", "systemctl start server-snapshots.service")
		case j.Job == "restore" && j.Result == state.ResultFailure:
			add(Critical, "ImpermanenceRestoreFailed", "The last impermanence-restore stopped part-way"+ago(now, j.LastRun)+": run the same command again to complete it.", j.Error,
				"cat /var/lib/server-impermanence/restore.json")
		case j.Job == "send" && failed:
			add(Warning, "ImpermanenceReplicationFailed", "The last replication run "+verb(j.Result)+ago(now, j.LastRun)+".", j.Error,
				"systemctl list-units 'server-impermanence-send@*'", "journalctl -u 'server-impermanence-send@*'")
		case slices.Contains([]string{"cleanup", "maintenance", "scrub", "balance"}, j.Job) && failed:
			unit := "btrfs-maintenance.service"
			switch j.Job {
			case "cleanup":
				unit = "server-snapshots-cleanup.service"
			case "scrub":
				unit = "server-impermanence-scrub.service"
			}
			add(Warning, "ImpermanenceJobFailed", "The last "+j.Job+" run "+verb(j.Result)+ago(now, j.LastRun)+".", j.Error,
				"journalctl -u "+unit, "systemctl start "+unit)
		}
		if j.Job == "snapshot" && th.SnapshotSlow > 0 && j.Duration > time.Duration(th.SnapshotSlow).Seconds() {
			add(Warning, "ImpermanenceSnapshotSlow",
				fmt.Sprintf("The last snapshot run took %s, more than [alerts].snapshot_slow (%s).",
					secondsText(j.Duration), shortDuration(time.Duration(th.SnapshotSlow))), "",
				"journalctl -u server-snapshots.service")
		}
	}

	for _, sv := range f.Subvolumes {
		if sv.Snapshot && !sv.SnapshotsUnknown && th.SnapshotStaleIntervals > 0 && sv.ScheduleInterval > 0 {
			allowed := time.Duration(th.SnapshotStaleIntervals * float64(sv.ScheduleInterval))
			switch {
			case sv.Timeline.Count == 0:
				add(Warning, "ImpermanenceSnapshotsStale", "No scheduled snapshot of "+sv.Name+" exists.", "",
					"systemctl list-timers server-snapshots.timer", "systemctl start server-snapshots.service")
			case now.Sub(sv.Timeline.Newest) > allowed:
				add(Warning, "ImpermanenceSnapshotsStale",
					fmt.Sprintf("The newest scheduled snapshot of %s is %s old, more than %s allowed.",
						sv.Name, shortDuration(now.Sub(sv.Timeline.Newest)), shortDuration(allowed)), "",
					"systemctl list-timers server-snapshots.timer", "impermanence-snapshot list")
			}
		}
		if a := sv.Archives; a != nil && f.Config.Valid && a.Count > th.ArchiveKeepMin && !a.Oldest.IsZero() &&
			now.Sub(a.Oldest) > time.Duration(th.ArchiveKeepAge)+time.Duration(th.ArchiveGrace) {
			add(Warning, "ImpermanenceArchivesGrowing",
				fmt.Sprintf("%d archives of %s remain, the oldest %s old: the rollback does not prune them.",
					a.Count, sv.Name, shortDuration(now.Sub(a.Oldest))), "",
				"journalctl -b -u server-impermanence-setup.service", "findmnt -t btrfs")
		}
		if sv.Overhead != nil && th.OverheadBudget > 0 && float64(*sv.Overhead) > th.OverheadBudget {
			add(Warning, "ImpermanenceOverheadOverBudget",
				fmt.Sprintf("Snapshots and archives of %s alone hold %s of its live data, more than the budget of %s.",
					sv.Name, percent(float64(*sv.Overhead)), percent(th.OverheadBudget)), "",
				"impermanence-prune --dry-run", "impermanence-snapshot list")
		}
	}

	if fs := f.Filesystem; fs != nil {
		if fs.Size > 0 && th.FreeSpaceRatio > 0 && float64(fs.Free)/float64(fs.Size) < th.FreeSpaceRatio {
			add(Warning, "ImpermanenceFilesystemSpaceLow",
				fmt.Sprintf("Only %s of %s is free (%s), below [alerts].free_space_percent (%s).",
					human.Bytes(fs.Free), human.Bytes(fs.Size), percent(float64(fs.Free)/float64(fs.Size)), percent(th.FreeSpaceRatio)), "",
				"btrfs filesystem usage /", "impermanence-prune --dry-run")
		}
		for _, e := range fs.DeviceErrors {
			add(Critical, "ImpermanenceDeviceErrors",
				fmt.Sprintf("Device %s of the filesystem has %d %s errors.", e.Devid, e.Count, e.Type), "",
				"btrfs device stats /", "btrfs filesystem show /")
		}
	}
	for _, t := range slices.Sorted(keys(f.Scrub.Errors)) {
		add(Critical, "ImpermanenceScrubErrors",
			fmt.Sprintf("The last scrub found %d %s errors.", f.Scrub.Errors[t], t), "",
			"journalctl -k --grep BTRFS", "btrfs scrub status /")
	}
	if sc := f.Scrub; sc.Enabled && sc.MaxAge > 0 {
		maxAge := time.Duration(sc.MaxAge)
		switch {
		case !sc.LastCompleted.IsZero() && now.Sub(sc.LastCompleted) > maxAge:
			add(Warning, "ImpermanenceScrubOverdue",
				fmt.Sprintf("The last complete scrub pass ended %s ago, more than %s.", shortDuration(now.Sub(sc.LastCompleted)), shortDuration(maxAge)), "",
				"systemctl list-timers server-impermanence-scrub.timer", "journalctl -u server-impermanence-scrub.service")
		case sc.LastCompleted.IsZero() && !sc.Started.IsZero() && now.Sub(sc.Started) > maxAge:
			add(Warning, "ImpermanenceScrubOverdue",
				fmt.Sprintf("The scrub pass started %s ago has not completed (%s done).", shortDuration(now.Sub(sc.Started)), percent(sc.Progress)), "",
				"systemctl list-timers server-impermanence-scrub.timer", "journalctl -u server-impermanence-scrub.service")
		}
	}

	for _, u := range f.Units {
		if u.Loaded && u.Result != "" && u.Result != "success" {
			add(Warning, "ImpermanenceUnitFailed", fmt.Sprintf("%s ended with %s.", u.Unit, u.Result), "",
				"systemctl status "+u.Unit, "journalctl -u "+u.Unit)
		}
	}

	for _, t := range f.Targets {
		if t.MaxAge == 0 {
			continue
		}
		unit := "server-impermanence-send@" + t.Target + ".service"
		switch {
		case !t.LastSuccess.IsZero() && now.Sub(t.LastSuccess) > time.Duration(t.MaxAge):
			lag := ""
			if !t.Newest.IsZero() {
				lag = fmt.Sprintf(" (its newest snapshot is %s old)", shortDuration(now.Sub(t.Newest)))
			}
			add(Warning, "ImpermanenceReplicationStale",
				fmt.Sprintf("The last send of %s to target %s was %s ago%s, more than %s allowed.",
					t.Subvolume, t.Target, shortDuration(now.Sub(t.LastSuccess)), lag, shortDuration(time.Duration(t.MaxAge))), "",
				"impermanence-send list --target "+t.Target, "systemctl start "+unit)
		}
	}

	for _, u := range f.Unreadable {
		cmd, ok := sourceCommands[u.Source]
		if !ok {
			cmd = "ls -l /run/server-impermanence /var/lib/server-impermanence" // a state record ("job <name>")
		}
		add(Warning, "ImpermanenceCollectorFailing", "Could not read the "+u.Source+" source, so its part of this status is missing.", firstLines(u.Error, 2), cmd)
	}

	slices.SortStableFunc(ps, func(a, b Problem) int {
		return rank(a.Severity) - rank(b.Severity)
	})
	if ps == nil {
		ps = []Problem{}
	}
	return Report{Healthy: len(ps) == 0, Problems: ps, Facts: f}
}

// sourceCommands explain why a source of internal/metrics cannot be read.
var sourceCommands = map[string]string{
	"snapshots":  "findmnt /.snapshots",
	"filesystem": "findmnt -t btrfs",
	"archives":   "ls -l /run/server-impermanence/archives.json /var/lib/server-impermanence/archives.json",
	"systemd":    "systemctl is-system-running",
	"scrub":      "ls -l /var/lib/server-impermanence/scrub-pass.json",
	"overhead":   "ls -l /var/lib/server-impermanence/overhead.json",
	"blanks":     "cat /run/server-impermanence/blank.json",
	"config":     "server-impermanence-generator --check",
	"jobs":       "ls -l /run/server-impermanence /var/lib/server-impermanence",
}

func rank(sev string) int {
	if sev == Critical {
		return 0
	}
	return 1
}

func keys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// firstLines keeps the first n lines of s, saying how many more there are
// (a source's error has a line per unit or subvolume, often the same).
func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return s
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n(and %d more)", len(lines)-n)
}

// verb is a result as a verb phrase: "failed", "was refused".
func verb(result string) string {
	switch result {
	case state.ResultRefused:
		return "was refused"
	case state.ResultFailure:
		return "failed"
	}
	return "ended " + result
}

// ago is " 3h ago" after a time, or "" for none.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " " + shortDuration(now.Sub(t)) + " ago"
}

// shortDuration rounds d to its largest unit or two: "45s", "12min",
// "3h 20min", "4d 6h".
func shortDuration(d time.Duration) string {
	if d < 0 {
		return "-" + shortDuration(-d)
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dmin", int(d.Round(time.Minute)/time.Minute))
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dmin", h, m)
	default:
		d = d.Round(time.Hour)
		dd, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", dd)
		}
		return fmt.Sprintf("%dd %dh", dd, h)
	}
}

// secondsText is a duration in seconds for people: "0.25s", "3min".
func secondsText(s float64) string {
	if s < 60 {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".") + "s"
	}
	return shortDuration(time.Duration(s * float64(time.Second)))
}

// percent formats a ratio: "7 %", "0.5 %".
func percent(r float64) string {
	p := r * 100
	if math.IsInf(p, 0) {
		return "all"
	}
	if p != math.Trunc(p) {
		return fmt.Sprintf("%.1f %%", p)
	}
	return fmt.Sprintf("%.0f %%", p)
}
