package replicate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

// Source is one read-only snapshot of the subvolume on the source:
// <snapshots dir>/<subvolume>/<Name>.
type Source struct {
	Name string
	// UUID is the snapshot's subvolume UUID.
	UUID string
}

// Held is one subvolume on the target: <root>/<subvolume>/<Name>.
type Held struct {
	Name string
	// ReceivedUUID is the UUID of the source snapshot it was received
	// from; "" for a subvolume btrfs receive did not make.
	ReceivedUUID string
}

// Send is one snapshot to send.
type Send struct {
	Name string
	// Parent is the snapshot the stream is relative to (both sides hold
	// it); "" sends in full.
	Parent string
	// Why explains the parent, or why the send is a full one.
	Why string
}

// Verdict is what happens to one snapshot the target holds (or will hold
// once the sends are done).
type Verdict struct {
	Name   string
	Keep   bool
	Reason string
}

// Plan is one subvolume's run.
type Plan struct {
	Subvolume string
	// Sends, oldest first.
	Sends []Send
	// Target is every subvolume the target holds after the sends, newest
	// first (unparseable names last, by name).
	Target []Verdict
	// Parent is the newest snapshot both sides hold after the sends, ""
	// for none: neither side may prune it.
	Parent string
	// Warnings are things an operator should know (a name clash).
	Warnings []string
}

// Deletions returns the names the target's retention deletes.
func (p Plan) Deletions() []string {
	var out []string
	for _, v := range p.Target {
		if !v.Keep {
			out = append(out, v.Name)
		}
	}
	return out
}

// Policy returns the target's retention policy in loc.
func Policy(t config.Target, loc *time.Location) retention.Policy {
	r := t.Retention
	return retention.Policy{Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly,
		Yearly: r.Yearly, KeepMin: r.KeepMin, MinAge: r.MinAge, Location: loc}
}

// snap is a snapshot with its parsed name, on either side.
type snap struct {
	name   string
	t      time.Time
	manual bool
	uuid   string // the source UUID (received UUID on the target)
}

func older(a, b snap) int { return cmp.Or(a.t.Compare(b.t), strings.Compare(a.name, b.name)) }

// Build plans one subvolume of one target.
func Build(subvolume string, src []Source, held []Held, policy retention.Policy, now time.Time) Plan {
	p := Plan{Subvolume: subvolume}
	var source []snap
	for _, s := range src {
		if t, label, ok := names.ParseSnapshot(s.Name); ok && s.UUID != "" {
			source = append(source, snap{name: s.Name, t: t, manual: label != "", uuid: s.UUID})
		}
	}
	slices.SortFunc(source, older)

	// What the target holds: received snapshots by name, the rest untouched.
	onTarget := map[string]snap{} // by name
	byUUID := map[string]bool{}   // received UUIDs the target holds
	var foreign []Verdict
	for _, h := range held {
		t, label, ok := names.ParseSnapshot(h.Name)
		switch {
		case !ok:
			foreign = append(foreign, Verdict{Name: h.Name, Keep: true, Reason: "not a snapshot name: never touched"})
		case h.ReceivedUUID == "":
			foreign = append(foreign, Verdict{Name: h.Name, Keep: true, Reason: "no received UUID (not made by btrfs receive): never touched"})
		default:
			onTarget[h.Name] = snap{name: h.Name, t: t, manual: label != "", uuid: h.ReceivedUUID}
			byUUID[h.ReceivedUUID] = true
		}
	}
	taken := map[string]bool{}
	for _, v := range foreign {
		taken[v.Name] = true
	}

	// Candidates: source snapshots the target lacks (by UUID) and whose
	// name is free there.
	var candidates []snap
	common := map[string]bool{} // source names both sides hold
	for _, s := range source {
		if byUUID[s.uuid] {
			common[s.name] = true
			continue
		}
		if h, clash := onTarget[s.name]; clash || taken[s.name] {
			why := "it is not a received snapshot"
			if clash {
				why = fmt.Sprintf("it was received from %s, the source snapshot is %s", h.uuid, s.uuid)
			}
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s/%s: the target holds another subvolume of that name (%s): not sent, nothing overwritten",
				subvolume, s.name, why))
			continue
		}
		candidates = append(candidates, s)
	}

	// The target's retention over what it would hold: candidates it would
	// delete at once are not sent; the newest source snapshot always is
	// (it is what the backup is for, and the next parent).
	union := make([]snap, 0, len(onTarget)+len(candidates))
	for _, s := range onTarget {
		union = append(union, s)
	}
	union = append(union, candidates...)
	keep := decide(union, policy, now, "")
	var sending []snap
	for i, c := range candidates {
		if keep[len(onTarget)+i].Keep || i == len(candidates)-1 && (len(source) > 0 && c.name == source[len(source)-1].name) {
			sending = append(sending, c)
		}
	}

	// Parents, oldest send first; each sent snapshot becomes common.
	for _, s := range sending {
		send := Send{Name: s.name}
		var before, after *snap
		for i := range source {
			c := &source[i]
			if !common[c.name] {
				continue
			}
			if older(*c, s) < 0 {
				before = c
			} else if after == nil {
				after = c
			}
		}
		switch {
		case before != nil:
			send.Parent, send.Why = before.name, "incremental from "+before.name+", the newest snapshot both sides hold before it"
		case after != nil:
			send.Parent, send.Why = after.name, "incremental from "+after.name+", the oldest snapshot both sides hold after it (none before)"
		default:
			send.Why = "full: no snapshot both sides hold"
		}
		p.Sends = append(p.Sends, send)
		common[s.name] = true
	}

	// The newest snapshot both sides hold from now on.
	parentUUID := ""
	for i := len(source) - 1; i >= 0; i-- {
		if common[source[i].name] {
			p.Parent, parentUUID = source[i].name, source[i].uuid
			break
		}
	}

	// The target's retention after the sends.
	after := make([]snap, 0, len(onTarget)+len(sending))
	for _, s := range onTarget {
		after = append(after, s)
	}
	after = append(after, sending...)
	slices.SortFunc(after, func(a, b snap) int { return older(b, a) })
	for i, d := range decide(after, policy, now, parentUUID) {
		p.Target = append(p.Target, Verdict{Name: after[i].name, Keep: d.Keep, Reason: d.String()})
	}
	slices.SortFunc(foreign, func(a, b Verdict) int { return strings.Compare(a.Name, b.Name) })
	p.Target = append(p.Target, foreign...)
	return p
}

// decide runs retention over ss, pinning the snapshot of the source UUID
// parent (the target's copy of the parent has it as its received UUID).
func decide(ss []snap, policy retention.Policy, now time.Time, parent string) []retention.Decision {
	rs := make([]retention.Snapshot, len(ss))
	for i, s := range ss {
		rs[i] = retention.Snapshot{Name: s.name, Time: s.t, Manual: s.manual, Parent: parent != "" && s.uuid == parent}
	}
	return retention.Select(rs, policy, now)
}

// Common returns the newest source snapshot the target holds (by received
// UUID), "" for none: the parent of the next incremental send.
func Common(src []Source, held []Held) string {
	have := map[string]bool{}
	for _, h := range held {
		if h.ReceivedUUID != "" {
			have[h.ReceivedUUID] = true
		}
	}
	best := snap{}
	for _, s := range src {
		t, _, ok := names.ParseSnapshot(s.Name)
		c := snap{name: s.Name, t: t}
		if ok && have[s.UUID] && (best.name == "" || older(best, c) < 0) {
			best = c
		}
	}
	return best.name
}
