package streamstore

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/retention"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// Send is one snapshot to store.
type Send struct {
	Name string
	// UUID is the source snapshot's.
	UUID string
	Kind Kind
	// Parent is the stored snapshot an incremental is relative to, with
	// its source UUID (the source holds it); "" for a full stream.
	Parent, ParentUUID string
	// Why says why the stream is full or what it is relative to.
	Why string
}

// Verdict is what the target's retention does to one stored snapshot.
type Verdict struct {
	Name   string
	Keep   bool
	Reason string
}

// Plan is one subvolume's run on a stream target.
type Plan struct {
	Subvolume string
	// Sends, oldest first; each incremental is relative to the one
	// before it (or to the newest stored snapshot).
	Sends []Send
	// Stored is every snapshot the target holds after the sends, newest
	// first, with the retention's verdict.
	Stored []Verdict
	// Newest is the newest snapshot stored after the sends: the parent of
	// the next incremental, never deleted; "" for none.
	Newest, NewestUUID string
	// Warnings are things an operator should know.
	Warnings []string
}

// Deletions returns the snapshots whose streams the target's retention
// deletes.
func (p Plan) Deletions() []string {
	var out []string
	for _, v := range p.Stored {
		if !v.Keep {
			out = append(out, v.Name)
		}
	}
	return out
}

// item is a snapshot on either side, with its parsed name.
type item struct {
	name, uuid string
	t          time.Time
	manual     bool
	kind       Kind
	parent     string // stored: the parent's name
}

func older(a, b item) int { return cmp.Or(a.t.Compare(b.t), strings.Compare(a.name, b.name)) }

// Build plans one subvolume of a stream target. src are the source's
// read-only snapshots, m the target's manifest, fullEvery the longest a
// chain grows before a new full stream starts one (0: never, a chain only
// restarts when it cannot continue), now the time.
//
// Streams form chains: a full stream, then incrementals each relative to
// the one before. A snapshot is sent only when it is newer than the newest
// stored one, incrementally from that one when the source still holds it
// (matched by UUID) and the newest full stream's snapshot is less than
// fullEvery older than it, else in full, saying why. The candidates the
// target's retention would delete at once are not sent; the newest source
// snapshot always is. After the sends the retention runs over what is
// stored: a kept snapshot keeps every stream of its chain, and the newest
// stored snapshot (the next incremental's parent) is always kept.
func Build(subvolume string, src []replicate.Source, m Manifest, policy retention.Policy, fullEvery time.Duration, now time.Time) Plan {
	p := Plan{Subvolume: subvolume}
	var source []item
	srcByUUID := map[string]item{}
	for _, s := range src {
		if t, label, ok := names.ParseSnapshot(s.Name); ok && s.UUID != "" {
			it := item{name: s.Name, uuid: s.UUID, t: t, manual: label != ""}
			source = append(source, it)
			srcByUUID[s.UUID] = it
		}
	}
	slices.SortFunc(source, older)

	var stored []item
	storedUUID := map[string]bool{}
	var odd []Verdict
	for _, s := range m.Streams {
		t, label, ok := names.ParseSnapshot(s.Name)
		if !ok {
			odd = append(odd, Verdict{Name: s.Name, Keep: true, Reason: "not a snapshot name: never touched"})
			continue
		}
		stored = append(stored, item{name: s.Name, uuid: s.UUID, t: t, manual: label != "", kind: s.Kind, parent: s.Parent})
		storedUUID[s.UUID] = true
	}
	slices.SortFunc(stored, older)
	byName := map[string]item{}
	for _, s := range stored {
		byName[s.name] = s
	}

	// Candidates: source snapshots newer than the newest stored one.
	var newest *item
	if len(stored) > 0 {
		newest = &stored[len(stored)-1]
	}
	var candidates []item
	for _, s := range source {
		if storedUUID[s.uuid] || newest != nil && older(*newest, s) >= 0 {
			continue
		}
		candidates = append(candidates, s)
	}
	union := slices.Concat(stored, candidates)
	keep := decide(union, policy, now, "")
	var sending []item
	for i, c := range candidates {
		last := i == len(candidates)-1 && c.name == source[len(source)-1].name
		if keep[len(stored)+i].Keep || last {
			sending = append(sending, c)
		}
	}

	// Kinds and parents, oldest first; each sent snapshot is the next one's
	// parent.
	lastFull := func(it item) (item, bool) {
		for range len(byName) + 1 {
			if it.kind == Full {
				return it, true
			}
			p, ok := byName[it.parent]
			if !ok {
				return item{}, false
			}
			it = p
		}
		return item{}, false
	}
	for _, s := range sending {
		send := Send{Name: s.name, UUID: s.uuid, Kind: Full}
		var full item
		var chained bool
		if newest != nil {
			full, chained = lastFull(*newest)
		}
		onSource := false
		if newest != nil {
			_, onSource = srcByUUID[newest.uuid]
		}
		switch {
		case newest == nil:
			send.Why = "full: the target holds no stream of this subvolume"
		case !onSource:
			send.Why = fmt.Sprintf("full: the source no longer holds %s, the newest stored snapshot", newest.name)
		case !chained:
			send.Why = fmt.Sprintf("full: the chain of %s, the newest stored snapshot, has no full stream", newest.name)
		case fullEvery > 0 && s.t.Sub(full.t) >= fullEvery:
			send.Why = fmt.Sprintf("full: the chain's full stream %s is %s older, full_every is %s",
				full.name, timespan.Format(s.t.Sub(full.t)), timespan.Format(fullEvery))
		default:
			send.Kind, send.Parent, send.ParentUUID = Incremental, newest.name, newest.uuid
			send.Why = "incremental from " + newest.name + ", the newest stored snapshot"
		}
		p.Sends = append(p.Sends, send)
		it := s
		it.kind, it.parent = send.Kind, send.Parent
		stored = append(stored, it)
		byName[it.name] = it
		newest = &stored[len(stored)-1]
	}
	if newest != nil {
		p.Newest, p.NewestUUID = newest.name, newest.uuid
	}

	// The target's retention over what is stored after the sends; a kept
	// snapshot keeps its chain.
	slices.SortFunc(stored, func(a, b item) int { return older(b, a) })
	ds := decide(stored, policy, now, p.NewestUUID)
	need := map[string]string{} // name → the kept snapshot whose chain needs it
	for i, d := range ds {
		if !d.Keep {
			continue
		}
		it := stored[i]
		for range len(byName) {
			if it.kind == Full {
				break
			}
			par, ok := byName[it.parent]
			if !ok {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s/%s: its parent %s is not stored: the chain is broken, a restore of it fails",
					subvolume, it.name, it.parent))
				break
			}
			if _, seen := need[par.name]; seen {
				break
			}
			need[par.name] = stored[i].name
			it = par
		}
	}
	for i, d := range ds {
		v := Verdict{Name: stored[i].name, Keep: d.Keep, Reason: d.String()}
		if by, ok := need[v.Name]; ok && !d.Keep {
			v.Keep, v.Reason = true, "in the chain of "+by+", which is kept"
		}
		p.Stored = append(p.Stored, v)
	}
	slices.SortFunc(odd, func(a, b Verdict) int { return strings.Compare(a.Name, b.Name) })
	p.Stored = append(p.Stored, odd...)
	return p
}

// decide runs retention over ss, pinning the snapshot of UUID parent.
func decide(ss []item, policy retention.Policy, now time.Time, parent string) []retention.Decision {
	rs := make([]retention.Snapshot, len(ss))
	for i, s := range ss {
		rs[i] = retention.Snapshot{Name: s.name, Time: s.t, Manual: s.manual, Parent: parent != "" && s.uuid == parent}
	}
	return retention.Select(rs, policy, now)
}
