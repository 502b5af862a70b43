package retention

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Archive is one archived previous state of an ephemeral subvolume, in
// <archive dir>/<subvolume>/ (names.Archive). Its retention (SelectArchives)
// is the rollback's, in the initrd, and impermanence-prune's, on the host.
type Archive struct {
	Subvolume string
	Name      string // <time>-<boot id>[-n]
	Path      string
	ID        uint64
	OTime     time.Time
	Mounted   []string // mountpoints of it or of a subvolume nested in it
	New       bool     // created by this run
}

// ArchiveDecision is the retention verdict on one archive.
type ArchiveDecision struct {
	Subvolume string    `json:"subvolume"`
	Path      string    `json:"path"`
	ID        uint64    `json:"id,omitempty"`
	Time      time.Time `json:"time,omitzero"`
	Delete    bool      `json:"delete"`
	Reason    string    `json:"reason"`
}

// archiveOTimeSlack is how far an archive's otime may lie after the time in its
// name before the two are reported as inconsistent. A previous state is
// always created before it is archived.
const archiveOTimeSlack = time.Minute

// SelectArchives decides which archives of one subvolume to delete: those whose
// name's time is more than keepDays before now, except the keepMin newest,
// anything mounted, anything made by this run and names it does not know.
// It reports an otime later than the name's time, and prunes nothing when the
// clock is behind the newest archive (a wrong initrd clock must not delete).
// Decisions are sorted newest first.
func SelectArchives(archives []Archive, keepDays, keepMin int, now time.Time) ([]ArchiveDecision, []string) {
	type item struct {
		Archive
		t  time.Time
		ok bool
	}
	items := make([]item, 0, len(archives))
	var warnings []string
	newest := time.Time{}
	for _, a := range archives {
		t, _, _, ok := names.ParseArchive(a.Name)
		if a.New {
			t, ok = now, true
		}
		items = append(items, item{a, t, ok})
		if ok && t.After(newest) {
			newest = t
		}
		if ok && !a.New && !a.OTime.IsZero() && a.OTime.After(t.Add(archiveOTimeSlack)) {
			warnings = append(warnings, fmt.Sprintf("%s: created %s, after the time in its name: a clock was wrong; retention uses the name",
				a.Path, a.OTime.UTC().Format(time.RFC3339)))
		}
	}
	slices.SortFunc(items, func(x, y item) int {
		return cmp.Or(y.t.Compare(x.t), strings.Compare(y.Name, x.Name))
	})
	clockBehind := newest.After(now.Add(archiveOTimeSlack))
	if clockBehind {
		warnings = append(warnings, fmt.Sprintf("the clock (%s) is behind the newest archive (%s): not pruning",
			now.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339)))
	}
	limit := daysSaturating(keepDays)
	kept := 0
	out := make([]ArchiveDecision, 0, len(items))
	for _, it := range items {
		d := ArchiveDecision{Subvolume: it.Subvolume, Path: it.Path, ID: it.ID, Time: it.t}
		switch {
		case !it.ok:
			d.Reason = "name not made by impermanence-rollback: kept"
			warnings = append(warnings, fmt.Sprintf("%s: unrecognised archive name, never pruned", it.Path))
		case it.New:
			d.Reason = "created by this run"
			kept++
		case kept < keepMin:
			d.Reason = fmt.Sprintf("one of the %d newest (keep_min)", keepMin)
			kept++
		case clockBehind:
			d.Reason = "clock behind the newest archive"
			kept++
		case now.Sub(it.t) <= limit:
			d.Reason = fmt.Sprintf("younger than %d days", keepDays)
			kept++
		case len(it.Mounted) > 0:
			d.Reason = "expired but mounted at " + strings.Join(it.Mounted, ", ")
			warnings = append(warnings, fmt.Sprintf("%s: expired but mounted at %s: kept", it.Path, strings.Join(it.Mounted, ", ")))
			kept++
		default:
			d.Delete = true
			d.Reason = fmt.Sprintf("older than %d days", keepDays)
		}
		out = append(out, d)
	}
	return out, warnings
}

// daysSaturating is keepDays as a duration, math.MaxInt64 where that many days
// do not fit (past about 292 years): an overflow must keep archives, never
// wrap into a negative age limit that deletes them.
func daysSaturating(days int) time.Duration {
	const day = 24 * time.Hour
	switch {
	case days <= 0:
		return 0
	case int64(days) > int64(math.MaxInt64/day):
		return math.MaxInt64
	}
	return time.Duration(days) * day
}
