// Package retention decides which snapshots to keep: a pure function from
// the snapshots of one subvolume, a policy and the time now to one decision
// per snapshot, each with the reasons for it.
//
// A snapshot is kept when any rule keeps it:
//
//   - it is in the future (the clock was wrong when it was taken, or is
//     wrong now): kept and reported, never deleted on a skewed clock;
//   - it is one of the keep_min newest (not counting those in the future);
//   - it is younger than min_age;
//   - it is a manual (labelled) snapshot that has not expired;
//   - it is a replication parent: the newest snapshot a target also holds,
//     which the next incremental send starts from (on the source and on
//     the target alike: without it the next send would be a full one);
//   - it is the newest timeline snapshot of one of the last N hours, days,
//     weeks (starting Monday), months or years that HAVE snapshots, in the
//     policy's time zone. Counting only periods with snapshots makes
//     retention robust to downtime: a server that was off for a month keeps
//     the history it had, where wall-clock buckets ("the last 24 hours")
//     would have emptied.
//
// Everything else is deleted, with the reason why. Equal timestamps are
// ordered by name (the greater name is the newer), so the decisions never
// depend on the order of the input. Select is idempotent: applying its
// deletions and selecting again with the same now deletes nothing more.
//
// SelectArchives is the [archive] policy (keep_days, keep_min) over the
// rollback's archived previous states: the same function for the initrd
// rollback and impermanence-prune.
package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// Snapshot is one snapshot of a subvolume.
type Snapshot struct {
	// Name identifies the snapshot; it breaks ties between equal times.
	Name string
	// Time is the snapshot's time (the time in its name).
	Time time.Time
	// Manual marks a labelled snapshot: timeline retention never deletes it.
	Manual bool
	// Expires is when a manual snapshot may be deleted; zero is never.
	Expires time.Time
	// Parent marks the newest snapshot a replication target also holds:
	// never deleted, whatever the policy.
	Parent bool
}

// Policy is the retention policy of one subvolume's snapshots.
type Policy struct {
	// Newest snapshots of the last N periods with snapshots.
	Hourly, Daily, Weekly, Monthly, Yearly int
	// KeepMin newest snapshots are always kept.
	KeepMin int
	// MinAge: snapshots younger than this are always kept.
	MinAge time.Duration
	// Location is the time zone of the calendar periods; nil is UTC.
	Location *time.Location
}

// Rule names why a snapshot is kept or deleted.
type Rule string

// The rules. Future, KeepMin, MinAge, Manual, Parent and the buckets keep;
// Expired and Unselected delete.
const (
	Future     Rule = "future"
	KeepMin    Rule = "keep_min"
	MinAge     Rule = "min_age"
	Manual     Rule = "manual"
	Parent     Rule = "parent"
	Hourly     Rule = "hourly"
	Daily      Rule = "daily"
	Weekly     Rule = "weekly"
	Monthly    Rule = "monthly"
	Yearly     Rule = "yearly"
	Expired    Rule = "expired"
	Unselected Rule = "unselected"
)

// Reason is one rule applied to a snapshot, with what it needs to explain
// itself.
type Reason struct {
	Rule Rule
	// Period is the start of the bucket's period in the policy's zone
	// (buckets), or the expiry time (Manual, Expired).
	Period time.Time
	// Rank is the position among the kept: 1 is the newest period or the
	// newest snapshot; Of is the rule's limit.
	Rank, Of int
	// Span is how far in the future (Future) or the min_age (MinAge).
	Span time.Duration
}

// String explains the reason in one line.
func (r Reason) String() string {
	switch r.Rule {
	case Future:
		return "in the future by " + timespan.Format(r.Span.Round(time.Second)) + " (clock skew): kept"
	case KeepMin:
		return "keep_min: " + itoa(r.Rank) + " of the " + itoa(r.Of) + " newest"
	case MinAge:
		return "younger than min_age " + timespan.Format(r.Span)
	case Manual:
		if r.Period.IsZero() {
			return "manual snapshot, no expiry"
		}
		return "manual snapshot, expires " + r.Period.Format(time.RFC3339)
	case Parent:
		return "replication parent: the newest snapshot a target also holds"
	case Expired:
		return "manual snapshot expired " + r.Period.Format(time.RFC3339)
	case Unselected:
		return "not the newest of a kept hour, day, week, month or year"
	case Hourly, Daily, Weekly, Monthly, Yearly:
		return string(r.Rule) + " " + r.period() + " (" + itoa(r.Rank) + "/" + itoa(r.Of) + ")"
	}
	return string(r.Rule)
}

func (r Reason) period() string {
	p := r.Period
	switch r.Rule {
	case Hourly:
		return p.Format("2006-01-02 15:00 MST")
	case Daily:
		return p.Format("2006-01-02")
	case Weekly:
		y, w := p.ISOWeek()
		return itoa(y) + "-W" + pad2(w)
	case Monthly:
		return p.Format("2006-01")
	}
	return p.Format("2006")
}

// Keeps reports whether the rule keeps a snapshot.
func (r Rule) Keeps() bool { return r != Expired && r != Unselected }

// Decision is the verdict on one snapshot.
type Decision struct {
	Keep    bool
	Reasons []Reason
}

// String joins the reasons.
func (d Decision) String() string {
	s := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		s[i] = r.String()
	}
	return strings.Join(s, "; ")
}

// Future reports whether the snapshot was found in the future.
func (d Decision) Future() bool {
	return len(d.Reasons) > 0 && d.Reasons[0].Rule == Future
}

// Select returns one decision per snapshot, in the order of snaps.
func Select(snaps []Snapshot, p Policy, now time.Time) []Decision {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	out := make([]Decision, len(snaps))
	// Indices newest first; equal times by name, the greater is newer.
	order := make([]int, len(snaps))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(snaps[b].Time.Compare(snaps[a].Time), strings.Compare(snaps[b].Name, snaps[a].Name))
	})
	keep := func(i int, r Reason) {
		out[i].Keep = true
		out[i].Reasons = append(out[i].Reasons, r)
	}
	rank := 0
	for _, i := range order {
		s := snaps[i]
		if s.Time.After(now) {
			keep(i, Reason{Rule: Future, Span: s.Time.Sub(now)})
			continue
		}
		if rank < p.KeepMin {
			rank++
			keep(i, Reason{Rule: KeepMin, Rank: rank, Of: p.KeepMin})
		}
		if p.MinAge > 0 && now.Sub(s.Time) < p.MinAge {
			keep(i, Reason{Rule: MinAge, Span: p.MinAge})
		}
		if s.Parent {
			keep(i, Reason{Rule: Parent})
		}
		if s.Manual {
			if s.Expires.IsZero() || s.Expires.After(now) {
				keep(i, Reason{Rule: Manual, Period: s.Expires})
			} else if !out[i].Keep {
				out[i].Reasons = append(out[i].Reasons, Reason{Rule: Expired, Period: s.Expires})
			}
		}
	}
	buckets := []struct {
		rule Rule
		n    int
	}{{Hourly, p.Hourly}, {Daily, p.Daily}, {Weekly, p.Weekly}, {Monthly, p.Monthly}, {Yearly, p.Yearly}}
	for _, b := range buckets {
		if b.n <= 0 {
			continue
		}
		have, last := 0, int64(0)
		for _, i := range order {
			s := snaps[i]
			if s.Manual || s.Time.After(now) {
				continue
			}
			k := periodKey(b.rule, s.Time, loc)
			if have > 0 && k == last {
				continue // an older snapshot of a period already kept
			}
			have++
			if have > b.n {
				break
			}
			last = k
			keep(i, Reason{Rule: b.rule, Period: periodStart(b.rule, s.Time, loc), Rank: have, Of: b.n})
		}
	}
	// One shared backing array (capacity 1, so an append copies).
	unselected := []Reason{{Rule: Unselected}}
	for i := range out {
		if !out[i].Keep && len(out[i].Reasons) == 0 {
			out[i].Reasons = unselected[:1:1]
		}
	}
	return out
}

// periodKey identifies the period of t in loc; keys of later periods are
// greater. An hour is an hour of real time aligned to the zone's clock, so
// the repeated hour when clocks go back is two periods, not one.
func periodKey(r Rule, t time.Time, loc *time.Location) int64 {
	lt := t.In(loc)
	switch r {
	case Hourly:
		_, off := lt.Zone()
		u := t.Unix()
		return u - mod(u+int64(off), 3600)
	case Daily:
		y, m, d := lt.Date()
		return days(y, m, d)
	case Weekly:
		y, m, d := lt.Date()
		dn := days(y, m, d)
		return dn - int64((lt.Weekday()+6)%7) // the Monday
	case Monthly:
		y, m, _ := lt.Date()
		return int64(y)*12 + int64(m)
	}
	return int64(lt.Year())
}

// periodStart is the start of the period of t, in loc.
func periodStart(r Rule, t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	switch r {
	case Hourly:
		return time.Unix(periodKey(Hourly, t, loc), 0).In(loc)
	case Daily:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	case Weekly:
		return time.Date(y, m, d-int((lt.Weekday()+6)%7), 0, 0, 0, 0, loc)
	case Monthly:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, 1, 1, 0, 0, 0, 0, loc)
}

// days numbers the civil date y-m-d (days since 1970-01-01, proleptic
// Gregorian), without going through a time zone.
func days(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Unix() / 86400
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

func pad2(n int) string { return fmt.Sprintf("%02d", n) }
