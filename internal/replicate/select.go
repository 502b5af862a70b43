package replicate

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

// Snap is a snapshot with its parsed name, on either side of a target:
// what every target kind (a btrfs target, a backup host, a stream target)
// decides over.
type Snap struct {
	Name   string
	Time   time.Time
	Manual bool
	// UUID is the source snapshot's UUID (on a target: the UUID of the
	// source snapshot it came from).
	UUID string
}

// Older orders snapshots by the time in their names, then by name: the
// order retention ranks them in.
func Older(a, b Snap) int { return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Name, b.Name)) }

// Sources returns the source snapshots a target may be sent, oldest
// first: those with a snapshot name and a UUID.
func Sources(src []Source) []Snap {
	var out []Snap
	for _, s := range src {
		if t, label, ok := names.ParseSnapshot(s.Name); ok && s.UUID != "" {
			out = append(out, Snap{Name: s.Name, Time: t, Manual: label != "", UUID: s.UUID})
		}
	}
	slices.SortFunc(out, Older)
	return out
}

// Worth returns the candidates worth sending, in their order: those the
// target's retention keeps over what it holds (held) and all candidates
// together, and the last candidate whatever the retention says when it is
// newest, the newest source snapshot (it is what the backup is for, and
// the next parent). Candidates the retention would delete at once are not
// sent.
func Worth(held, candidates []Snap, newest string, policy retention.Policy, now time.Time) []Snap {
	keep := Decide(slices.Concat(held, candidates), policy, now, "")
	var out []Snap
	for i, c := range candidates {
		if keep[len(held)+i].Keep || i == len(candidates)-1 && c.Name == newest {
			out = append(out, c)
		}
	}
	return out
}

// Newest returns the name of the newest of ss (sorted oldest first), ""
// for none.
func Newest(ss []Snap) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[len(ss)-1].Name
}

// Decide runs retention over ss, pinning the snapshot whose UUID is
// parent (the next incremental's parent; "" pins none).
func Decide(ss []Snap, policy retention.Policy, now time.Time, parent string) []retention.Decision {
	rs := make([]retention.Snapshot, len(ss))
	for i, s := range ss {
		rs[i] = retention.Snapshot{Name: s.Name, Time: s.Time, Manual: s.Manual, Parent: parent != "" && s.UUID == parent}
	}
	return retention.Select(rs, policy, now)
}

// Deletions returns the names of the verdicts that do not keep.
func Deletions(vs []Verdict) []string {
	var out []string
	for _, v := range vs {
		if !v.Keep {
			out = append(out, v.Name)
		}
	}
	return out
}
