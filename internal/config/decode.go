package config

import (
	"fmt"
	"sort"
	"strings"
)

// layer is what one file sets, keyed by canonical key path, before merging.
type layer struct {
	values map[string]assignment
	// subvolumes in the order the file declares them, by name.
	subvolumes []string
	dirs       []persistEntry
	files      []persistEntry
}

type assignment struct {
	val any // string, int64, bool or []int64
	pos Pos
}

type persistEntry struct {
	p   PersistPath
	pos Pos // of the entry; errors about its fields use keyPos
	// keyPos holds the position of each field written in a table entry.
	keyPos map[string]Pos
}

// canonical keys for subvolume fields: subvolume["@nix"].mountpoint
func subvolKey(name, field string) string { return fmt.Sprintf("subvolume[%q].%s", name, field) }

// decoder maps one file's tree onto the schema.
type decoder struct {
	c *collector
	l *layer
}

func decodeLayer(root *node, c *collector) *layer {
	d := &decoder{c: c, l: &layer{values: map[string]assignment{}}}
	d.table(root, "", map[string]func(*node){
		"device": d.scalar("device", kString),
		"mode":   d.scalar("mode", kString),
		"archive": d.subtable("archive", map[string]kind{
			"dir": kString, "keep_days": kInteger, "keep_min": kInteger,
		}),
		"persist":   d.persist,
		"subvolume": d.subvolumes,
		"snapshots": d.snapshots,
		"cleanup":   d.subtable("cleanup", map[string]kind{"schedule": kString}),
		"maintenance": d.subtable("maintenance", map[string]kind{
			"schedule": kString, "balance_data_usage": kArray,
			"balance_metadata_usage": kArray, "scrub": kBool,
		}),
		"exporter": d.subtable("exporter", map[string]kind{"listen": kString, "textfile_dir": kString}),
	})
	return d.l
}

// table calls fields[k] for each key of n, reporting unknown keys.
func (d *decoder) table(n *node, where string, fields map[string]func(*node)) {
	if !d.want(n, kTable) {
		return
	}
	for _, k := range n.keys {
		v := n.fields[k]
		f, ok := fields[k]
		if !ok {
			d.unknown(v.pos, k, where, fields)
			continue
		}
		f(v)
	}
}

func (d *decoder) unknown(p Pos, key, where string, fields map[string]func(*node)) {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	in := "at the top level"
	if where != "" {
		in = "in [" + where + "]"
	}
	msg := fmt.Sprintf("unknown key %q %s", key, in)
	if s := closest(key, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	msg += " (known keys: " + strings.Join(known, ", ") + ")"
	d.c.add(p, "%s", msg)
}

// want reports a type error unless n has kind k.
func (d *decoder) want(n *node, k kind) bool {
	if n.kind == k {
		return true
	}
	d.c.add(n.pos, "expected %s, got %s", k.article(), n.kind.article())
	return false
}

func (d *decoder) set(key string, n *node) {
	var v any
	switch n.kind {
	case kString:
		v = n.str
	case kInteger:
		v = n.num
	case kBool:
		v = n.b
	case kArray:
		ints := make([]int64, 0, len(n.elems))
		for _, e := range n.elems {
			if d.want(e, kInteger) {
				ints = append(ints, e.num)
			}
		}
		v = ints
	}
	d.l.values[key] = assignment{val: v, pos: n.pos}
}

func (d *decoder) scalar(key string, k kind) func(*node) {
	return func(n *node) {
		if d.want(n, k) {
			d.set(key, n)
		}
	}
}

func (d *decoder) subtable(name string, keys map[string]kind) func(*node) {
	return func(n *node) {
		fields := map[string]func(*node){}
		for k, kd := range keys {
			fields[k] = d.scalar(name+"."+k, kd)
		}
		d.table(n, name, fields)
	}
}

func (d *decoder) snapshots(n *node) {
	d.table(n, "snapshots", map[string]func(*node){
		"dir":      d.scalar("snapshots.dir", kString),
		"schedule": d.scalar("snapshots.schedule", kString),
		"retention": d.subtable("snapshots.retention", map[string]kind{
			"hourly": kInteger, "daily": kInteger, "weekly": kInteger, "monthly": kInteger,
			"yearly": kInteger, "keep_min": kInteger, "min_age": kString,
		}),
	})
}

var subvolumeKinds = map[string]kind{
	"name": kString, "mountpoint": kString, "class": kString, "compression": kString,
	"cow": kBool, "snapshot": kBool, "blank": kString, "archive": kBool,
}

func (d *decoder) subvolumes(n *node) {
	if !d.want(n, kArray) {
		return
	}
	if !n.arrayOfTable {
		d.c.add(n.pos, "declare subvolumes as [[subvolume]] tables")
		return
	}
	first := map[string]Pos{}
	for _, e := range n.elems {
		nameNode, ok := e.fields["name"]
		if !ok {
			d.c.add(e.pos, "subvolume without a name")
			continue
		}
		if !d.want(nameNode, kString) {
			continue
		}
		name := nameNode.str
		if p, dup := first[name]; dup {
			d.c.add(nameNode.pos, "subvolume %q declared twice in this file (first at %s)", name, p)
			continue
		}
		first[name] = nameNode.pos
		d.l.subvolumes = append(d.l.subvolumes, name)
		fields := map[string]func(*node){}
		for k, kd := range subvolumeKinds {
			fields[k] = d.scalar(subvolKey(name, k), kd)
		}
		d.table(e, "[subvolume]", fields)
	}
}

func (d *decoder) persist(n *node) {
	d.table(n, "persist", map[string]func(*node){
		"subvolume":   d.scalar("persist.subvolume", kString),
		"directories": func(v *node) { d.l.dirs = append(d.l.dirs, d.persistList(v)...) },
		"files":       func(v *node) { d.l.files = append(d.l.files, d.persistList(v)...) },
	})
}

// persistList decodes ["/path", { path = "/p", user = "u", group = "g", mode = "0700" }].
func (d *decoder) persistList(n *node) []persistEntry {
	if !d.want(n, kArray) {
		return nil
	}
	var out []persistEntry
	for _, e := range n.elems {
		switch e.kind {
		case kString:
			out = append(out, persistEntry{p: PersistPath{Path: e.str}, pos: e.pos})
		case kTable:
			pe := persistEntry{pos: e.pos, keyPos: map[string]Pos{}}
			str := func(dst *string, k string) func(*node) {
				return func(v *node) {
					if d.want(v, kString) {
						*dst = v.str
						pe.keyPos[k] = v.pos
					}
				}
			}
			d.table(e, "persist entry", map[string]func(*node){
				"path": str(&pe.p.Path, "path"), "user": str(&pe.p.User, "user"),
				"group": str(&pe.p.Group, "group"), "mode": str(&pe.p.Mode, "mode"),
			})
			if _, ok := pe.keyPos["path"]; !ok {
				d.c.add(e.pos, "persist entry without a path")
				continue
			}
			pe.pos = pe.keyPos["path"]
			out = append(out, pe)
		default:
			d.c.add(e.pos, "expected a path string or a table { path = ..., user = ..., group = ..., mode = ... }, got %s", e.kind.article())
		}
	}
	return out
}

// closest returns the known key nearest to k by edit distance, if close.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if dd := editDistance(k, c); dd < bestD {
			best, bestD = c, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
