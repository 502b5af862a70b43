package streamstore

import (
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
type Verdict = replicate.Verdict

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
func (p Plan) Deletions() []string { return replicate.Deletions(p.Stored) }

// item is a snapshot on either side; stored, with its stream's kind and
// parent.
type item struct {
	replicate.Snap
	kind   Kind
	parent string // stored: the parent's name
}

func older(a, b item) int { return replicate.Older(a.Snap, b.Snap) }

// snaps returns the snapshots of its.
func snaps(its []item) []replicate.Snap {
	out := make([]replicate.Snap, len(its))
	for i, it := range its {
		out[i] = it.Snap
	}
	return out
}

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
	source := replicate.Sources(src)
	onSource := map[string]bool{} // source UUIDs
	for _, s := range source {
		onSource[s.UUID] = true
	}

	var stored []item
	storedUUID := map[string]bool{}
	var odd []Verdict
	for _, s := range m.Streams {
		t, label, ok := names.ParseSnapshot(s.Name)
		if !ok {
			odd = append(odd, Verdict{Name: s.Name, Keep: true, Reason: "not a snapshot name: never touched"})
			continue
		}
		stored = append(stored, item{Snap: replicate.Snap{Name: s.Name, Time: t, Manual: label != "", UUID: s.UUID}, kind: s.Kind, parent: s.Parent})
		storedUUID[s.UUID] = true
	}
	slices.SortFunc(stored, older)
	byName := map[string]item{}
	for _, s := range stored {
		byName[s.Name] = s
	}

	// Candidates: source snapshots newer than the newest stored one.
	var newest *item
	if len(stored) > 0 {
		newest = &stored[len(stored)-1]
	}
	var candidates []replicate.Snap
	for _, s := range source {
		if storedUUID[s.UUID] || newest != nil && replicate.Older(newest.Snap, s) >= 0 {
			continue
		}
		candidates = append(candidates, s)
	}
	sending := replicate.Worth(snaps(stored), candidates, replicate.Newest(source), policy, now)

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
		send := Send{Name: s.Name, UUID: s.UUID, Kind: Full}
		var full item
		var chained bool
		if newest != nil {
			full, chained = lastFull(*newest)
		}
		switch {
		case newest == nil:
			send.Why = "full: the target holds no stream of this subvolume"
		case !onSource[newest.UUID]:
			send.Why = fmt.Sprintf("full: the source no longer holds %s, the newest stored snapshot", newest.Name)
		case !chained:
			send.Why = fmt.Sprintf("full: the chain of %s, the newest stored snapshot, has no full stream", newest.Name)
		case fullEvery > 0 && s.Time.Sub(full.Time) >= fullEvery:
			send.Why = fmt.Sprintf("full: the chain's full stream %s is %s older, full_every is %s",
				full.Name, timespan.Format(s.Time.Sub(full.Time)), timespan.Format(fullEvery))
		default:
			send.Kind, send.Parent, send.ParentUUID = Incremental, newest.Name, newest.UUID
			send.Why = "incremental from " + newest.Name + ", the newest stored snapshot"
		}
		p.Sends = append(p.Sends, send)
		it := item{Snap: s, kind: send.Kind, parent: send.Parent}
		stored = append(stored, it)
		byName[it.Name] = it
		newest = &stored[len(stored)-1]
	}
	if newest != nil {
		p.Newest, p.NewestUUID = newest.Name, newest.UUID
	}

	// The target's retention over what is stored after the sends; a kept
	// snapshot keeps its chain.
	slices.SortFunc(stored, func(a, b item) int { return older(b, a) })
	ds := replicate.Decide(snaps(stored), policy, now, p.NewestUUID)
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
					subvolume, it.Name, it.parent))
				break
			}
			if _, seen := need[par.Name]; seen {
				break
			}
			need[par.Name] = stored[i].Name
			it = par
		}
	}
	for i, d := range ds {
		v := Verdict{Name: stored[i].Name, Keep: d.Keep, Reason: d.String()}
		if by, ok := need[v.Name]; ok && !d.Keep {
			v.Keep, v.Reason = true, "in the chain of "+by+", which is kept"
		}
		p.Stored = append(p.Stored, v)
	}
	slices.SortFunc(odd, func(a, b Verdict) int { return strings.Compare(a.Name, b.Name) })
	p.Stored = append(p.Stored, odd...)
	return p
}
