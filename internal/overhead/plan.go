package overhead

import (
	"cmp"
	"path"
	"slices"
	"strings"
)

// Role is what a subvolume is to the overhead.
type Role int

const (
	// Other is a subvolume outside the snapshot and archive dirs that is
	// not a configured subvolume: a blank, a nested subvolume, the top
	// level. Its extents are kept (never overhead).
	Other Role = iota
	// Live is a configured subvolume.
	Live
	// Snapshot is a subvolume in <snapshots dir>/<subvolume>/.
	Snapshot
	// Archive is a subvolume in <archive dir>/<subvolume>/.
	Archive
)

// Layout is where snapshots and archives are, and which subvolumes are
// configured.
type Layout struct {
	SnapshotsDir, ArchiveDir string
	Subvolumes               []string
}

// Subvol is one subvolume of the filesystem.
type Subvol struct {
	ID         uint64
	Path       string // relative to the top level
	UUID       [16]byte
	ParentUUID [16]byte // a snapshot's source; zero for none
	OTransID   uint64   // the transaction that created it
	ReadOnly   bool
}

// Walk is one subvolume tree to read.
type Walk struct {
	Subvol
	Role  Role
	Group string // the configured subvolume it belongs to; "" for Other
	// MinTrans is the first transaction whose tree blocks are read (0:
	// all); From is the subvolume whose walk covers the older blocks.
	MinTrans uint64
	From     uint64
}

// Plan returns the walks that give the overhead of every configured
// subvolume: first every subvolume whose extents are kept (Live, Other),
// whole; then the snapshots and archives of each configured subvolume in
// creation order.
//
// A snapshot or archive X whose source (parent UUID) has an earlier
// read-only snapshot P in the same group is read from P's creation
// transaction on. Tree blocks are never changed in place: a block of X
// written before P was taken was in the source's tree when P copied it,
// and P, read-only, still holds it, so its extents are already counted
// for the group. Where there is no such P (the first snapshot of a
// lineage, a snapshot whose predecessor was made writable) X is read
// whole. An archive is a former live subvolume, writable while it lived,
// so archives are read whole.
func Plan(l Layout, subs []Subvol) []Walk {
	var kept, members []Walk
	for _, s := range subs {
		w := Walk{Subvol: s}
		w.Role, w.Group = classify(l, s.Path)
		if w.Role == Live || w.Role == Other {
			kept = append(kept, w)
		} else {
			members = append(members, w)
		}
	}
	slices.SortFunc(members, func(a, b Walk) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.OTransID, b.OTransID), cmp.Compare(a.ID, b.ID))
	})
	// prev: per group and source, the newest read-only snapshot so far.
	type lineage struct {
		group  string
		parent [16]byte
	}
	prev := map[lineage]Subvol{}
	for i := range members {
		m := &members[i]
		if m.ParentUUID == ([16]byte{}) {
			continue
		}
		k := lineage{m.Group, m.ParentUUID}
		if p, ok := prev[k]; ok && p.OTransID < m.OTransID {
			m.MinTrans, m.From = p.OTransID, p.ID
		}
		if m.Role == Snapshot && m.ReadOnly {
			prev[k] = m.Subvol
		}
	}
	return append(kept, members...)
}

// classify returns the role of the subvolume at p and its group.
func classify(l Layout, p string) (Role, string) {
	for _, name := range l.Subvolumes {
		switch {
		case p == name:
			return Live, name
		case inDir(p, path.Join(l.SnapshotsDir, name)):
			return Snapshot, name
		case inDir(p, path.Join(l.ArchiveDir, name)):
			return Archive, name
		}
	}
	return Other, ""
}

// inDir reports whether p is an entry of directory dir itself.
func inDir(p, dir string) bool {
	rest, ok := strings.CutPrefix(p, dir+"/")
	return ok && rest != "" && !strings.Contains(rest, "/")
}
