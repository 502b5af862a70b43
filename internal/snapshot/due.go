package snapshot

import (
	"fmt"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// Verdict is whether a subvolume's snapshot is due at a run of the timer.
type Verdict struct {
	Subvolume string
	Due       bool
	// Reason says why, for the report and the journal.
	Reason string
}

// Due decides, for each subvolume in subvols (configured, snapshot = true),
// whether its schedule elapsed since its newest timeline snapshot: one
// server-snapshots.timer elapses at every distinct schedule, and each run
// snapshots only the subvolumes that are due. The decision reads only the
// snapshots on disk, so a missed elapse (the machine was off; the timer is
// Persistent=) or a failed run is caught up at the next run. A subvolume
// without a timeline snapshot is due; so is one whose newest is in the
// future (a clock that was wrong would otherwise stop its snapshots until
// the clock reaches that time). Schedules without a zone are read in loc.
func Due(cfg *config.Config, subvols []string, entries []Entry, now time.Time, loc *time.Location) []Verdict {
	newest := map[string]time.Time{}
	for _, e := range entries {
		if e.Kind == KindTimeline && e.Time.After(newest[e.Subvolume]) {
			newest[e.Subvolume] = e.Time
		}
	}
	out := make([]Verdict, 0, len(subvols))
	for _, name := range subvols {
		sv, _ := cfg.Subvolume(name)
		v := Verdict{Subvolume: name}
		last, ok := newest[name]
		switch {
		case !ok:
			v.Due, v.Reason = true, "no timeline snapshot yet"
		case last.After(now):
			v.Due, v.Reason = true, fmt.Sprintf("its newest timeline snapshot (%s) is in the future: the clock was or is wrong", last.Format(time.RFC3339))
		default:
			next, ok, err := calendar.Next(sv.Schedule, last, loc)
			switch {
			case err != nil:
				// The configuration validated it: a zone file gone since.
				v.Due, v.Reason = true, fmt.Sprintf("schedule %q: %v; snapshotting rather than missing it", sv.Schedule, err)
			case !ok:
				v.Reason = fmt.Sprintf("schedule %q elapses no more after its newest timeline snapshot (%s)", sv.Schedule, last.Format(time.RFC3339))
			case next.After(now):
				v.Reason = fmt.Sprintf("not due: schedule %q next elapses %s", sv.Schedule, next.Format(time.RFC3339))
			default:
				v.Due, v.Reason = true, fmt.Sprintf("schedule %q elapsed at %s", sv.Schedule, next.Format(time.RFC3339))
			}
		}
		out = append(out, v)
	}
	return out
}
