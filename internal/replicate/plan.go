package replicate

import (
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
func (p Plan) Deletions() []string { return Deletions(p.Target) }

// Policy returns the target's retention policy in loc.
func Policy(t config.Target, loc *time.Location) retention.Policy {
	r := t.Retention
	return retention.Policy{Hourly: r.Hourly, Daily: r.Daily, Weekly: r.Weekly, Monthly: r.Monthly,
		Yearly: r.Yearly, KeepMin: r.KeepMin, MinAge: r.MinAge, Location: loc}
}

// Build plans one subvolume of one target.
func Build(subvolume string, src []Source, held []Held, policy retention.Policy, now time.Time) Plan {
	p := Plan{Subvolume: subvolume}
	source := Sources(src)

	// What the target holds: received snapshots by name, the rest untouched.
	onTarget := map[string]Snap{} // by name
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
			onTarget[h.Name] = Snap{Name: h.Name, Time: t, Manual: label != "", UUID: h.ReceivedUUID}
			byUUID[h.ReceivedUUID] = true
		}
	}
	taken := map[string]bool{}
	for _, v := range foreign {
		taken[v.Name] = true
	}

	// Candidates: source snapshots the target lacks (by UUID) and whose
	// name is free there.
	var candidates []Snap
	common := map[string]bool{} // source names both sides hold
	for _, s := range source {
		if byUUID[s.UUID] {
			common[s.Name] = true
			continue
		}
		if h, clash := onTarget[s.Name]; clash || taken[s.Name] {
			why := "it is not a received snapshot"
			if clash {
				why = fmt.Sprintf("it was received from %s, the source snapshot is %s", h.UUID, s.UUID)
			}
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s/%s: the target holds another subvolume of that name (%s): not sent, nothing overwritten",
				subvolume, s.Name, why))
			continue
		}
		candidates = append(candidates, s)
	}

	// The target's retention over what it would hold chooses what is sent.
	union := make([]Snap, 0, len(onTarget))
	for _, s := range onTarget {
		union = append(union, s)
	}
	sending := Worth(union, candidates, Newest(source), policy, now)

	// Parents, oldest send first; each sent snapshot becomes common.
	for _, s := range sending {
		send := Send{Name: s.Name}
		var before, after *Snap
		for i := range source {
			c := &source[i]
			if !common[c.Name] {
				continue
			}
			if Older(*c, s) < 0 {
				before = c
			} else if after == nil {
				after = c
			}
		}
		switch {
		case before != nil:
			send.Parent, send.Why = before.Name, "incremental from "+before.Name+", the newest snapshot both sides hold before it"
		case after != nil:
			send.Parent, send.Why = after.Name, "incremental from "+after.Name+", the oldest snapshot both sides hold after it (none before)"
		default:
			send.Why = "full: no snapshot both sides hold"
		}
		p.Sends = append(p.Sends, send)
		common[s.Name] = true
	}

	// The newest snapshot both sides hold from now on.
	parentUUID := ""
	for i := len(source) - 1; i >= 0; i-- {
		if common[source[i].Name] {
			p.Parent, parentUUID = source[i].Name, source[i].UUID
			break
		}
	}

	// The target's retention after the sends.
	after := make([]Snap, 0, len(onTarget)+len(sending))
	for _, s := range onTarget {
		after = append(after, s)
	}
	after = append(after, sending...)
	slices.SortFunc(after, func(a, b Snap) int { return Older(b, a) })
	for i, d := range Decide(after, policy, now, parentUUID) {
		p.Target = append(p.Target, Verdict{Name: after[i].Name, Keep: d.Keep, Reason: d.String()})
	}
	slices.SortFunc(foreign, func(a, b Verdict) int { return strings.Compare(a.Name, b.Name) })
	p.Target = append(p.Target, foreign...)
	return p
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
	best := Snap{}
	for _, s := range src {
		t, _, ok := names.ParseSnapshot(s.Name)
		c := Snap{Name: s.Name, Time: t}
		if ok && have[s.UUID] && (best.Name == "" || Older(best, c) < 0) {
			best = c
		}
	}
	return best.Name
}
