package prune

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// Kinds of item.
const (
	KindSnapshot = "snapshot"
	KindArchive  = "archive"
)

// Reasons of the snapshots no rule deletes.
const (
	reasonUnknown  = "name not made by impermanence-snapshot: never pruned"
	reasonWritable = "writable: never pruned until it is read-only again"
)

// Item is one snapshot or archive with its verdict.
type Item struct {
	Kind      string    `json:"kind"`
	Subvolume string    `json:"subvolume"`
	Path      string    `json:"path"`
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time,omitzero"`
	Delete    bool      `json:"delete"`
	Reason    string    `json:"reason"`
	Label     string    `json:"label,omitempty"`
	// Parent names the replication targets that need this snapshot as
	// the parent of their next incremental send: nothing deletes it.
	Parent []string `json:"replication_parent_of,omitempty"`
}

// Plan is the verdict on every snapshot and archive, by kind, subvolume and
// time (newest first), and what to tell the operator.
type Plan struct {
	// Policies are the retention applied to each subvolume's snapshots.
	Policies []PolicyRow `json:"policies"`
	Items    []Item      `json:"items"`
	Warnings []string    `json:"warnings,omitempty"`
}

// PolicyRow is the effective policy of one subvolume's snapshots.
type PolicyRow struct {
	Subvolume string `json:"subvolume"`
	// Schedule is "" for a subvolume the configuration does not snapshot.
	Schedule  string `json:"schedule,omitempty"`
	Retention string `json:"retention"`
	// From is where the policy comes from: "[snapshots]", "[policy.NAME]",
	// "[[subvolume]]", or "[snapshots] (not configured)".
	From string `json:"from"`
}

// Deletions counts the items to delete.
func (p Plan) Deletions() int {
	n := 0
	for _, it := range p.Items {
		if it.Delete {
			n++
		}
	}
	return n
}

// Policy returns the default retention policy of the configuration
// ([snapshots]'s) in loc.
func Policy(cfg *config.Config, loc *time.Location) retention.Policy {
	return policy(cfg.Snapshots.Retention, loc)
}

// PolicyOf returns the retention policy of subvolume sv's snapshots in loc:
// its own, its named policy's or [snapshots]'s.
func PolicyOf(cfg *config.Config, sv string, loc *time.Location) retention.Policy {
	return policy(cfg.RetentionOf(sv), loc)
}

func policy(r config.Retention, loc *time.Location) retention.Policy {
	return retention.Policy{Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly,
		Yearly: r.Yearly, KeepMin: r.KeepMin, MinAge: r.MinAge, Location: loc}
}

// policies lists the effective policy of every snapshotted subvolume and
// of every other subvolume that has snapshots, in configuration order,
// the others by name.
func policies(cfg *config.Config, withSnapshots []string) []PolicyRow {
	var out []PolicyRow
	seen := map[string]bool{}
	for _, s := range cfg.Subvolumes {
		if s.Snapshot || slices.Contains(withSnapshots, s.Name) {
			seen[s.Name] = true
			row := PolicyRow{Subvolume: s.Name, Retention: s.Retention.String(), From: s.PolicySource()}
			if s.Snapshot {
				row.Schedule = s.Schedule
			}
			out = append(out, row)
		}
	}
	for _, sv := range withSnapshots {
		if !seen[sv] {
			out = append(out, PolicyRow{Subvolume: sv, Retention: cfg.Snapshots.Retention.String(), From: "[snapshots] (not configured)"})
		}
	}
	return out
}

// Build plans retention for the snapshots (from snapshot.List) and the
// archives of the configuration's archived ephemeral subvolumes, found in
// subvols with mounted (subvolume id → mountpoints).
func Build(cfg *config.Config, snaps []snapshot.Entry, subvols []btrfs.Subvolume, mounted map[uint64][]string, loc *time.Location, now time.Time) Plan {
	var p Plan
	groups := map[string][]snapshot.Entry{}
	for _, e := range snaps {
		for _, pr := range e.Problems {
			p.Warnings = append(p.Warnings, e.Path+": "+pr)
		}
		switch {
		case e.Kind == snapshot.KindUnknown:
			p.Items = append(p.Items, Item{Kind: KindSnapshot, Subvolume: e.Subvolume, Path: e.Path, ID: e.ID,
				Reason: reasonUnknown})
		case !e.ReadOnly:
			p.Items = append(p.Items, Item{Kind: KindSnapshot, Subvolume: e.Subvolume, Path: e.Path, ID: e.ID, Time: e.Time,
				Label: e.Label, Reason: reasonWritable})
		default:
			groups[e.Subvolume] = append(groups[e.Subvolume], e)
		}
	}
	p.Policies = policies(cfg, slices.Sorted(maps.Keys(groups)))
	for _, sv := range slices.Sorted(maps.Keys(groups)) {
		es := groups[sv]
		policy := PolicyOf(cfg, sv, loc)
		rs := make([]retention.Snapshot, len(es))
		for i, e := range es {
			rs[i] = retention.Snapshot{Name: e.Name, Time: e.Time, Manual: e.Kind == snapshot.KindManual, Expires: e.Expires}
		}
		for i, d := range retention.Select(rs, policy, now) {
			e := es[i]
			if d.Future() {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: its time %s is in the future: the clock was or is wrong; kept",
					e.Path, e.Time.Format(time.RFC3339)))
			}
			p.Items = append(p.Items, Item{Kind: KindSnapshot, Subvolume: sv, Path: e.Path, ID: e.ID, Time: e.Time,
				Label: e.Label, Delete: !d.Keep, Reason: d.String()})
		}
	}
	p.archives(cfg, subvols, mounted, now)
	slices.SortStableFunc(p.Items, func(a, b Item) int {
		return cmp.Or(-strings.Compare(a.Kind, b.Kind), strings.Compare(a.Subvolume, b.Subvolume),
			b.Time.Compare(a.Time), strings.Compare(b.Path, a.Path))
	})
	return p
}

// archives plans the archive dir: <dir>/<subvolume>/<name> of every
// archived ephemeral subvolume.
func (p *Plan) archives(cfg *config.Config, subvols []btrfs.Subvolume, mounted map[uint64][]string, now time.Time) {
	for _, sv := range cfg.Ephemeral() {
		if !sv.Archive {
			continue
		}
		prefix := path.Join(cfg.Archive.Dir, sv.Name) + "/"
		var as []retention.Archive
		for _, s := range subvols {
			name, ok := strings.CutPrefix(s.Path, prefix)
			if !ok || strings.Contains(name, "/") {
				continue
			}
			a := retention.Archive{Subvolume: sv.Name, Name: name, Path: s.Path, ID: s.ID, OTime: s.OTime}
			// Mounted: the archive or any subvolume nested in it.
			for _, n := range subvols {
				if n.ID == s.ID || strings.HasPrefix(n.Path, s.Path+"/") {
					a.Mounted = append(a.Mounted, mounted[n.ID]...)
				}
			}
			as = append(as, a)
		}
		if len(as) == 0 {
			continue
		}
		ds, warnings := retention.SelectArchives(as, cfg.Archive.KeepDays, cfg.Archive.KeepMin, now)
		p.Warnings = append(p.Warnings, warnings...)
		for _, d := range ds {
			p.Items = append(p.Items, Item{Kind: KindArchive, Subvolume: d.Subvolume, Path: d.Path, ID: d.ID,
				Time: d.Time, Delete: d.Delete, Reason: d.Reason})
		}
	}
}

// Print writes the plan as a table: every item with keep or delete and the
// reason, then the warnings.
func (p Plan) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBVOLUME\tSCHEDULE\tRETENTION\tFROM")
	for _, r := range p.Policies {
		sched := r.Schedule
		if sched == "" {
			sched = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Subvolume, sched, r.Retention, r.From)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tPATH\tVERDICT\tREASON")
	for _, it := range p.Items {
		v := "keep"
		if it.Delete {
			v = "delete"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Kind, it.Path, v, it.Reason)
	}
	tw.Flush()
	for _, m := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
}
