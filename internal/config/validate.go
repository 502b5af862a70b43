package config

import (
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// validator checks the merged configuration: first every value against its
// row of the schema (keys), then the rules that relate keys to each other.
// It collects every violation with the position of the offending key.
type validator struct {
	m *merged
	c *Config
	e *collector
	// bad holds the keys, and badEntry the persisted path entries (by
	// position) whose path failed its own check: the relational rules
	// skip them rather than report a second problem with the same value.
	bad      map[string]bool
	badEntry map[Pos]bool
}

// svPos is the position of a subvolume field, or of its name when the field
// took its default.
func (v *validator) svPos(name, field string) Pos {
	if a, ok := v.m.values[subvolKey(name, field)]; ok {
		return a.pos
	}
	return v.m.pos(subvolKey(name, "name"))
}

func (v *validator) run() {
	v.bad, v.badEntry = map[string]bool{}, map[Pos]bool{}
	v.keys()
	v.device()
	v.subvolumes()
	v.archive()
	v.snapshots()
	v.persist()
	v.targets()
	v.notify()
	v.policies()
}

// notify checks that [notify].command names its program by an absolute
// path or a bare name looked up in PATH, never relative to a directory.
func (v *validator) notify() {
	cmd := v.c.Notify.Command
	if len(cmd) == 0 || v.bad["notify.command"] {
		return
	}
	if p := cmd[0]; !strings.HasPrefix(p, "/") && strings.Contains(p, "/") {
		v.e.add(v.m.pos("notify.command"), "program %q: a relative path (give an absolute path or a name looked up in PATH)", p)
	}
}

// tPos is the position of a target field, or of its name when the field
// took its default.
func (v *validator) tPos(name, field string) Pos {
	if a, ok := v.m.values[targetKey(name, field)]; ok {
		return a.pos
	}
	return v.m.pos(targetKey(name, "name"))
}

// keys checks every value against its row of the schema.
func (v *validator) keys() {
	for i := range schema {
		f := &schema[i]
		switch f.kind {
		case fPaths:
			for _, e := range v.m.lists[f.key] {
				v.entry(f, e)
			}
			continue
		case fSysctl:
			v.mapKeys(f)
			continue
		}
		checkRow(v, f, f.key, v.m.pos(f.key))
	}
	for _, name := range v.m.subvolumes {
		for i := range subvolumeSchema {
			key := subvolKey(name, subvolumeSchema[i].key)
			checkRow(v, &subvolumeSchema[i], key, v.svPos(name, subvolumeSchema[i].key))
		}
	}
	for _, name := range v.m.policies {
		for i := range policySchema {
			key := policyKey(name, policySchema[i].key)
			checkRow(v, &policySchema[i], key, v.policyPos(name, policySchema[i].key))
		}
	}
	for _, name := range v.m.targets {
		for i := range targetSchema {
			key := targetKey(name, targetSchema[i].key)
			checkRow(v, &targetSchema[i], key, v.tPos(name, targetSchema[i].key))
		}
	}
}

// mapKeys checks the names of a map's keys and how many there are.
func (v *validator) mapKeys(f *field[Config]) {
	es := v.m.maps[f.key]
	for _, e := range es {
		if msg := f.check(e.name); msg != "" {
			v.e.add(e.pos, "%s", msg)
		}
	}
	if int64(len(es)) > f.max {
		v.e.add(es[f.max].pos, "more than %d keys in [%s] (all files together)", f.max, f.key)
	}
}

// entry checks a persisted path: the path by the list's check, the other
// fields of a table entry by their rows.
func (v *validator) entry(list *field[Config], e persistEntry) {
	if msg := list.check(e.p.Path); msg != "" {
		v.e.add(e.pos, "%s", msg)
		v.badEntry[e.pos] = true
	}
	for i := range persistEntrySchema {
		f := &persistEntrySchema[i]
		p, set := e.keyPos[f.key]
		if !set || f.check == nil {
			continue
		}
		s := *f.to(&e.p).(*string)
		if msg := f.check(s); msg != "" && !(s == "" && f.emptyOK) {
			v.e.add(p, "%s", msg)
		}
	}
}

// checkRow checks the value of key (a row f of a schema table) against the
// row: the syntax of a string, the range of a count, the usage filters,
// the range of a duration. A required key nobody set is left to the rules
// that say what is missing.
func checkRow[T any](v *validator, f *field[T], key string, pos Pos) {
	if !v.m.set(key) && f.def == nil {
		return
	}
	val := v.m.get(key, f.def)
	fail := func(format string, args ...any) {
		v.e.add(pos, format, args...)
		v.bad[key] = true
	}
	switch f.kind {
	case fString:
		s := val.(string)
		if f.check == nil || s == "" && f.emptyOK {
			return
		}
		if msg := f.check(s); msg != "" {
			fail("%s", msg)
		}
	case fStrings:
		for _, s := range val.([]string) {
			if msg := f.check(s); msg != "" {
				fail("%s", msg)
			}
		}
	case fCount:
		switch n := val.(int64); {
		case n < 0:
			fail("must not be negative (got %d)", n)
		case n > f.max:
			fail("%d is above the maximum %d", n, f.max)
		}
	case fUsage:
		us := val.([]int64)
		for i, u := range us {
			switch {
			case u < 0 || u > f.max:
				fail("usage filter %d is not a percentage (0..%d)", u, f.max)
			case i > 0 && u <= us[i-1]:
				fail("usage filters must be strictly ascending (progressive balance), got %v", us)
			}
		}
	case fDuration:
		d, err := timespan.Parse(val.(string))
		if err != nil {
			v.bad[key] = true // build reported it
			return
		}
		if int64(d) > f.max {
			fail("%s is above the maximum %s", timespan.Format(d), timespan.Format(time.Duration(f.max)))
		}
	}
}

// device reports a missing device (keys checks one that is set).
func (v *validator) device() {
	if !v.m.set("device") {
		v.e.add(v.m.pos("device"), "%s", checkDevice(""))
	}
}

func (v *validator) subvolumes() {
	if len(v.c.Subvolumes) == 0 {
		v.e.add(v.m.main, "no [[subvolume]] declared")
		return
	}
	byMount := map[string]string{}
	svNames := map[string]bool{}
	for _, s := range v.c.Subvolumes {
		svNames[s.Name] = true
	}
	for _, s := range v.c.Subvolumes {
		namePos := v.svPos(s.Name, "name")
		if base, ok := strings.CutSuffix(s.Name, names.NewSuffix); ok && svNames[base] {
			v.e.add(namePos, "subvolume name %q is reserved: the rollback of %q builds its new state there",
				s.Name, base)
		}
		v.mountpoint(s, byMount)
		v.compression(s)
		if s.Class == Permanent {
			for _, f := range []string{"blank", "archive"} {
				if _, set := v.m.values[subvolKey(s.Name, f)]; set {
					v.e.add(v.svPos(s.Name, f), "%q applies only to ephemeral subvolumes; %q is permanent", f, s.Name)
				}
			}
		}
		if s.Class == Ephemeral {
			v.ephemeral(s)
		}
	}
	// A subvolume nested (by its path in the top level) inside an ephemeral
	// one would be moved away or deleted with the ephemeral's old state.
	for _, s := range v.c.Subvolumes {
		for _, e := range v.c.Subvolumes {
			if e.Class == Ephemeral && below(s.Name, e.Name) {
				v.e.add(v.svPos(s.Name, "name"),
					"subvolume %q lies inside ephemeral subvolume %q: every boot would move it to the archive or delete it; create it at the top level and mount it instead",
					s.Name, e.Name)
			}
		}
	}
}

func (v *validator) mountpoint(s Subvolume, byMount map[string]string) {
	p := v.svPos(s.Name, "mountpoint")
	if _, set := v.m.values[subvolKey(s.Name, "mountpoint")]; !set {
		v.e.add(p, "subvolume %q has no mountpoint", s.Name)
		return
	}
	if v.bad[subvolKey(s.Name, "mountpoint")] {
		return
	}
	if other, dup := byMount[s.Mountpoint]; dup {
		v.e.add(p, "mountpoint %q is already used by subvolume %q", s.Mountpoint, other)
	}
	byMount[s.Mountpoint] = s.Name
	if s.Mountpoint == SnapshotsMountpoint && s.Name != v.c.Snapshots.Dir {
		v.e.add(p, "mountpoint %s is reserved for the snapshots subvolume %q", SnapshotsMountpoint, v.c.Snapshots.Dir)
	}
}

func (v *validator) compression(s Subvolume) {
	p := v.svPos(s.Name, "compression")
	if v.bad[subvolKey(s.Name, "compression")] {
		return
	}
	if !s.CoW && s.Compression != "" && s.Compression != "none" {
		v.e.add(p, "compression %q on NoCoW subvolume %q (cow = false): NoCoW data is never compressed and the kernel refuses the property; write compression = \"none\"",
			s.Compression, s.Name)
	}
}

func (v *validator) ephemeral(s Subvolume) {
	if s.Name == v.c.Persist.Subvolume {
		v.e.add(v.svPos(s.Name, "class"), "the persist subvolume %q cannot be ephemeral: it holds the persisted state", s.Name)
	}
	if s.Name == v.c.Snapshots.Dir {
		v.e.add(v.svPos(s.Name, "class"), "the snapshots subvolume %q cannot be ephemeral", s.Name)
	}
	if persist, ok := v.c.Subvolume(v.c.Persist.Subvolume); ok && s.Name != persist.Name &&
		persist.Mountpoint != "" && persist.Mountpoint != "/" && under(s.Mountpoint, persist.Mountpoint) {
		v.e.add(v.svPos(s.Name, "class"), "subvolume %q is mounted at %s inside the persist subvolume's %s: it holds persisted paths and cannot be ephemeral",
			s.Name, s.Mountpoint, persist.Mountpoint)
	}
	bp := v.svPos(s.Name, "blank")
	_, isSub := v.c.Subvolume(s.Blank)
	switch {
	case s.Blank == "" && s.Mountpoint == "/":
		v.e.add(bp, "the root subvolume %q needs a blank (an empty root cannot boot); capture one with impermanence-provision --blank-from", s.Name)
	case s.Blank == "", v.bad[subvolKey(s.Name, "blank")]:
	case isSub || s.Blank == s.Name:
		v.e.add(bp, "blank %q is a configured subvolume; the blank must be a separate read-only snapshot", s.Blank)
	case s.Blank == v.c.Snapshots.Dir:
		v.e.add(bp, "blank %q is the snapshots subvolume", s.Blank)
	}
	if s.Snapshot {
		v.e.add(v.svPos(s.Name, "snapshot"), "snapshots of ephemeral subvolume %q would only capture state that the next boot erases; set snapshot = false", s.Name)
	}
}

func (v *validator) archive() {
	a := v.c.Archive
	p := v.m.pos("archive.dir")
	if !v.bad["archive.dir"] {
		for _, s := range v.c.Subvolumes {
			if under(a.Dir, s.Name) || under(s.Name, a.Dir) {
				v.e.add(p, "archive dir %q overlaps subvolume %q; it must be a plain directory in the top-level subvolume", a.Dir, s.Name)
			}
		}
		if under(a.Dir, v.c.Snapshots.Dir) || under(v.c.Snapshots.Dir, a.Dir) {
			v.e.add(p, "archive dir %q overlaps the snapshots subvolume %q", a.Dir, v.c.Snapshots.Dir)
		}
	}
	archived := false
	for _, s := range v.c.Ephemeral() {
		archived = archived || s.Archive
	}
	if archived && a.KeepDays == 0 && a.KeepMin == 0 {
		v.e.add(v.m.pos("archive.keep_days"), "archive retention keeps nothing (keep_days = 0 and keep_min = 0); set archive = false on the subvolumes instead")
	}
}

func (v *validator) snapshots() {
	s := v.c.Snapshots
	p := v.m.pos("snapshots.dir")
	if v.bad["snapshots.dir"] {
		// keys reported it
	} else if sv, ok := v.c.Subvolume(s.Dir); ok {
		if sv.Mountpoint != SnapshotsMountpoint && sv.Mountpoint != "" {
			v.e.add(v.svPos(sv.Name, "mountpoint"), "the snapshots subvolume %q must be mounted at %s", sv.Name, SnapshotsMountpoint)
		}
		if sv.Snapshot {
			v.e.add(v.svPos(sv.Name, "snapshot"), "the snapshots subvolume %q cannot itself be snapshotted", sv.Name)
		}
	} else {
		for _, sub := range v.c.Subvolumes {
			if below(s.Dir, sub.Name) {
				v.e.add(p, "snapshots dir %q lies inside subvolume %q; it must be a subvolume of the top level", s.Dir, sub.Name)
			}
		}
	}
	if keepsNothing(s.Retention) {
		v.e.add(v.m.pos("snapshots.retention.keep_min"),
			"retention keeps nothing: every snapshot would be deleted by the next cleanup; set keep_min or a bucket (hourly, daily, ...) above 0")
	}
}

func (v *validator) persist() {
	ps := v.c.Persist
	dirs := v.m.lists["persist.directories"]
	all := append(append([]persistEntry(nil), dirs...), v.m.lists["persist.files"]...)
	persistSV, ok := v.c.Subvolume(ps.Subvolume)
	p := v.m.pos("persist.subvolume")
	switch {
	case !ok && len(all) > 0:
		dflt := ""
		if _, set := v.m.values["persist.subvolume"]; !set {
			dflt = " (the default)"
		}
		v.e.add(p, "persist subvolume %q%s is not a configured [[subvolume]]", ps.Subvolume, dflt)
	case ok && persistSV.Mountpoint == "/":
		v.e.add(p, "persist subvolume %q must not be the root", ps.Subvolume)
	}
	firstAt := map[string]Pos{}
	for i, e := range all {
		isFile := i >= len(dirs)
		what := "persisted directory"
		if isFile {
			what = "persisted file"
		}
		if v.badEntry[e.pos] {
			continue
		}
		if first, dup := firstAt[e.p.Path]; dup {
			v.e.add(e.pos, "%s %q is already persisted (at %s)", what, e.p.Path, first)
			continue
		}
		firstAt[e.p.Path] = e.pos
		v.persistPlacement(e, what, ok, persistSV)
	}
	// Overlaps: a persisted path below a persisted directory would be
	// mounted twice, and the inner mount would hide part of the outer one.
	for _, e := range all {
		for _, d := range dirs {
			if !v.badEntry[d.pos] && below(e.p.Path, d.p.Path) {
				v.e.add(e.pos, "%q lies inside persisted directory %q (at %s); persist one or the other", e.p.Path, d.p.Path, d.pos)
			}
		}
	}
}

func (v *validator) persistPlacement(e persistEntry, what string, havePersist bool, persistSV Subvolume) {
	if havePersist && persistSV.Mountpoint != "" && under(e.p.Path, persistSV.Mountpoint) {
		v.e.add(e.pos, "%s %q lies on the persist subvolume itself (%s)", what, e.p.Path, persistSV.Mountpoint)
		return
	}
	if under(e.p.Path, SnapshotsMountpoint) {
		v.e.add(e.pos, "%s %q lies in the snapshots mount %s", what, e.p.Path, SnapshotsMountpoint)
		return
	}
	// The subvolume mounted nearest above the path decides where it lives.
	var owner Subvolume
	for _, s := range v.c.Subvolumes {
		if s.Mountpoint == e.p.Path {
			v.e.add(e.pos, "%s %q is the mountpoint of subvolume %q; a bind mount there would hide it", what, e.p.Path, s.Name)
			return
		}
		if below(s.Mountpoint, e.p.Path) {
			v.e.add(e.pos, "%s %q contains the mountpoint of subvolume %q (%s); persist paths below it instead", what, e.p.Path, s.Name, s.Mountpoint)
			return
		}
		if under(e.p.Path, s.Mountpoint) && len(s.Mountpoint) > len(owner.Mountpoint) {
			owner = s
		}
	}
	if owner.Class == Permanent {
		v.e.add(e.pos, "%s %q already lies on permanent subvolume %q (%s); a bind mount would hide its content",
			what, e.p.Path, owner.Name, owner.Mountpoint)
	}
}
