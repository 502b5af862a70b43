package config

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// validator checks the merged configuration against the rules of DESIGN.md §4
// and collects every violation with the position of the offending key.
type validator struct {
	m *merged
	c *Config
	e *collector
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
	v.device()
	v.mode()
	v.subvolumes()
	v.archive()
	v.snapshots()
	v.persist()
	v.maintenance()
	v.exporter()
}

func (v *validator) device() {
	d := v.c.Device
	p := v.m.pos("device")
	switch {
	case d == "":
		v.e.add(p, "required: the btrfs filesystem, e.g. \"/dev/disk/by-label/server\"")
	case !strings.HasPrefix(d, "/dev/"):
		v.e.add(p, "%q is not a device path under /dev (use /dev/disk/by-uuid/..., by-label/... or by-partuuid/...)", d)
	default:
		if msg := checkAbsPath(d); msg != "" {
			v.e.add(p, "%s", msg)
		}
	}
}

func (v *validator) mode() {
	if !slices.Contains(Modes, v.c.Mode) {
		v.e.add(v.m.pos("mode"), "%q is not a mode (one of balanced, io-optimized, space-optimized)", v.c.Mode)
	}
}

var compressionLevel = regexp.MustCompile(`^(zstd|zlib|lzo):(-?[0-9]+)$`)

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
		if msg := checkRelPath(s.Name); msg != "" {
			v.e.add(namePos, "subvolume name %s", msg)
		}
		if base, ok := strings.CutSuffix(s.Name, names.NewSuffix); ok && svNames[base] {
			v.e.add(namePos, "subvolume name %q is reserved: the rollback of %q builds its new state there",
				s.Name, base)
		}
		v.mountpoint(s, byMount)
		switch s.Class {
		case Permanent, Ephemeral:
		default:
			v.e.add(v.svPos(s.Name, "class"), "%q is not a class (permanent or ephemeral)", s.Class)
		}
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
	if msg := checkAbsPath(s.Mountpoint); msg != "" {
		v.e.add(p, "mountpoint %s", msg)
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
	if m := compressionLevel.FindStringSubmatch(s.Compression); m != nil {
		v.e.add(p, "%q: compression levels are per filesystem on btrfs (the first mount wins and the property ignores the level); write compression = %q and choose the level with mode",
			s.Compression, m[1])
		return
	}
	if s.Compression != "" && !slices.Contains(Compressions, s.Compression) {
		v.e.add(p, "%q is not a compression algorithm (one of zstd, lzo, zlib, none)", s.Compression)
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
	if s.Blank != "" {
		if msg := checkRelPath(s.Blank); msg != "" {
			v.e.add(bp, "blank %s", msg)
		} else if _, isSub := v.c.Subvolume(s.Blank); isSub || s.Blank == s.Name {
			v.e.add(bp, "blank %q is a configured subvolume; the blank must be a separate read-only snapshot", s.Blank)
		} else if s.Blank == v.c.Snapshots.Dir {
			v.e.add(bp, "blank %q is the snapshots subvolume", s.Blank)
		}
	} else if s.Mountpoint == "/" {
		v.e.add(bp, "the root subvolume %q needs a blank (an empty root cannot boot); capture one with impermanence-provision --blank-from", s.Name)
	}
	if s.Snapshot {
		v.e.add(v.svPos(s.Name, "snapshot"), "snapshots of ephemeral subvolume %q would only capture state that the next boot erases; set snapshot = false", s.Name)
	}
}

func (v *validator) archive() {
	a := v.c.Archive
	p := v.m.pos("archive.dir")
	if msg := checkRelPath(a.Dir); msg != "" {
		v.e.add(p, "archive dir %s", msg)
	} else {
		for _, s := range v.c.Subvolumes {
			if under(a.Dir, s.Name) || under(s.Name, a.Dir) {
				v.e.add(p, "archive dir %q overlaps subvolume %q; it must be a plain directory in the top-level subvolume", a.Dir, s.Name)
			}
		}
		if under(a.Dir, v.c.Snapshots.Dir) || under(v.c.Snapshots.Dir, a.Dir) {
			v.e.add(p, "archive dir %q overlaps the snapshots subvolume %q", a.Dir, v.c.Snapshots.Dir)
		}
	}
	v.inRange("archive.keep_days", a.KeepDays, MaxKeepDays)
	v.inRange("archive.keep_min", a.KeepMin, MaxCount)
	archived := false
	for _, s := range v.c.Ephemeral() {
		archived = archived || s.Archive
	}
	if archived && a.KeepDays == 0 && a.KeepMin == 0 {
		v.e.add(v.m.pos("archive.keep_days"), "archive retention keeps nothing (keep_days = 0 and keep_min = 0); set archive = false on the subvolumes instead")
	}
}

func (v *validator) inRange(key string, n, max int) {
	switch {
	case n < 0:
		v.e.add(v.m.pos(key), "must not be negative (got %d)", n)
	case n > max:
		v.e.add(v.m.pos(key), "%d is above the maximum %d", n, max)
	}
}

func (v *validator) schedule(key, expr string) {
	if err := calendar.Validate(expr); err != nil {
		v.e.add(v.m.pos(key), "invalid OnCalendar= schedule: %v", err)
	}
}

func (v *validator) snapshots() {
	s := v.c.Snapshots
	p := v.m.pos("snapshots.dir")
	if msg := checkRelPath(s.Dir); msg != "" {
		v.e.add(p, "snapshots dir %s", msg)
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
	v.schedule("snapshots.schedule", s.Schedule)
	r := s.Retention
	for _, k := range []struct {
		key string
		n   int
	}{{"hourly", r.Hourly}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}, {"yearly", r.Yearly}, {"keep_min", r.KeepMin}} {
		v.inRange("snapshots.retention."+k.key, k.n, MaxCount)
	}
	if r.MinAge > MaxMinAge {
		v.e.add(v.m.pos("snapshots.retention.min_age"), "%s is above the maximum %s", timespan.Format(r.MinAge), timespan.Format(MaxMinAge))
	}
	if r.Hourly <= 0 && r.Daily <= 0 && r.Weekly <= 0 && r.Monthly <= 0 && r.Yearly <= 0 && r.KeepMin <= 0 && r.MinAge <= 0 {
		v.e.add(v.m.pos("snapshots.retention.keep_min"),
			"retention keeps nothing: every snapshot would be deleted by the next cleanup; set keep_min or a bucket (hourly, daily, ...) above 0")
	}
}

var userName = regexp.MustCompile(`^([a-z_][a-z0-9_-]*\$?|[0-9]+)$`)

func (v *validator) persist() {
	ps := v.c.Persist
	all := append(append([]persistEntry(nil), v.m.dirs...), v.m.files...)
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
		isFile := i >= len(v.m.dirs)
		what := "persisted directory"
		if isFile {
			what = "persisted file"
		}
		if msg := checkAbsPath(e.p.Path); msg != "" {
			v.e.add(e.pos, "%s %s", what, msg)
			continue
		}
		if e.p.Path == "/" {
			v.e.add(e.pos, "%s \"/\": the root cannot be persisted as a whole; make its subvolume permanent instead", what)
			continue
		}
		if first, dup := firstAt[e.p.Path]; dup {
			v.e.add(e.pos, "%s %q is already persisted (at %s)", what, e.p.Path, first)
			continue
		}
		firstAt[e.p.Path] = e.pos
		v.persistPlacement(e, what, ok, persistSV)
		v.persistOwner(e)
	}
	// Overlaps: a persisted path below a persisted directory would be
	// mounted twice, and the inner mount would hide part of the outer one.
	for _, e := range all {
		for _, d := range v.m.dirs {
			if checkAbsPath(d.p.Path) == "" && below(e.p.Path, d.p.Path) {
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

func (v *validator) persistOwner(e persistEntry) {
	at := func(k string) Pos {
		if p, ok := e.keyPos[k]; ok {
			return p
		}
		return e.pos
	}
	if e.p.User != "" && !userName.MatchString(e.p.User) {
		v.e.add(at("user"), "%q is not a valid user name or uid", e.p.User)
	}
	if e.p.Group != "" && !userName.MatchString(e.p.Group) {
		v.e.add(at("group"), "%q is not a valid group name or gid", e.p.Group)
	}
	if e.p.Mode != "" {
		m, err := strconv.ParseUint(e.p.Mode, 8, 32)
		if err != nil || m > 0o7777 || len(e.p.Mode) < 3 {
			v.e.add(at("mode"), "%q is not an octal mode such as \"0755\"", e.p.Mode)
		}
	}
}

func (v *validator) maintenance() {
	m := v.c.Maintenance
	v.schedule("maintenance.schedule", m.Schedule)
	for key, us := range map[string][]int{
		"maintenance.balance_data_usage":     m.BalanceDataUsage,
		"maintenance.balance_metadata_usage": m.BalanceMetadataUsage,
	} {
		for i, u := range us {
			switch {
			case u < 0 || u > 100:
				v.e.add(v.m.pos(key), "usage filter %d is not a percentage (0..100)", u)
			case i > 0 && u <= us[i-1]:
				v.e.add(v.m.pos(key), "usage filters must be strictly ascending (progressive balance), got %v", us)
			}
		}
	}
	v.schedule("cleanup.schedule", v.c.Cleanup.Schedule)
}

func (v *validator) exporter() {
	x := v.c.Exporter
	if x.Listen != "" {
		host, port, err := net.SplitHostPort(x.Listen)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil:
			v.e.add(v.m.pos("exporter.listen"), "%q is not host:port: %v", x.Listen, err)
		case perr != nil || n < 1 || n > 65535:
			v.e.add(v.m.pos("exporter.listen"), "%q: port must be a number 1..65535", x.Listen)
		case host != "" && net.ParseIP(host) == nil && host != "localhost":
			v.e.add(v.m.pos("exporter.listen"), "%q: host must be an IP address or localhost (name resolution is not available at boot)", x.Listen)
		}
	}
	if x.TextfileDir != "" {
		if msg := checkAbsPath(x.TextfileDir); msg != "" {
			v.e.add(v.m.pos("exporter.textfile_dir"), "%s", msg)
		}
	}
}
