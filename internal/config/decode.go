package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// layer is what one file sets, keyed by canonical key path, before merging.
type layer struct {
	values map[string]assignment
	// subvolumes and targets in the order the file declares them, by name.
	subvolumes []string
	targets    []string
	// policies in the order the file declares them, by name, and where.
	policies []string
	policyAt map[string]Pos
	// lists holds the entries of each fPaths key, in file order.
	lists map[string][]persistEntry
	// maps holds the entries of each fSysctl key, in file order; a file
	// that writes the table has an entry here, empty or not.
	maps map[string][]mapEntry
}

// mapEntry is one key of a map (fSysctl).
type mapEntry struct {
	// name is the key as written, its table path joined with dots
	// ("vm.swappiness", "net/core/somaxconn"); key is it with dots.
	name, key string
	val       string
	pos       Pos
	// replaces is where an earlier file set the key (merge fills it).
	replaces Pos
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
func subvolKey(name, field string) string {
	return fmt.Sprintf("%s[%q].%s", subvolumeTable, name, field)
}

// canonical keys for target fields: target["usb"].retention.daily
func targetKey(name, field string) string {
	return fmt.Sprintf("%s[%q].%s", targetTable, name, field)
}

// canonical keys for policy fields: policy["db"].retention.hourly
func policyKey(name, field string) string {
	return fmt.Sprintf("%s[%q].%s", policyTable, name, field)
}

// tableSpec is one table of the schema: its keys and its sub-tables.
type tableSpec struct {
	name string // "" for the top level, "archive", "snapshots.retention"
	keys map[string]*field[Config]
	subs map[string]*tableSpec
}

// schemaTables is the schema as nested tables, as a file writes it.
var schemaTables = func() *tableSpec {
	newSpec := func(name string) *tableSpec {
		return &tableSpec{name: name, keys: map[string]*field[Config]{}, subs: map[string]*tableSpec{}}
	}
	root := newSpec("")
	for i := range schema {
		f := &schema[i]
		parts := strings.Split(f.key, ".")
		t := root
		for j, p := range parts[:len(parts)-1] {
			sub, ok := t.subs[p]
			if !ok {
				sub = newSpec(strings.Join(parts[:j+1], "."))
				t.subs[p] = sub
			}
			t = sub
		}
		t.keys[parts[len(parts)-1]] = f
	}
	return root
}()

// decoder maps one file's tree onto the schema.
type decoder struct {
	c *collector
	l *layer
}

func decodeLayer(root *node, c *collector) *layer {
	d := &decoder{c: c, l: &layer{values: map[string]assignment{}, lists: map[string][]persistEntry{}, maps: map[string][]mapEntry{},
		policyAt: map[string]Pos{}}}
	d.spec(schemaTables)(root)
	return d.l
}

// spec decodes a table of the schema.
func (d *decoder) spec(t *tableSpec) func(*node) {
	return func(n *node) {
		fields := map[string]func(*node){}
		for k, f := range t.keys {
			fields[k] = d.field(f)
		}
		for k, sub := range t.subs {
			fields[k] = d.spec(sub)
		}
		if t.name == "" {
			fields[subvolumeTable] = d.subvolumes
			fields[targetTable] = d.targets
			fields[policyTable] = d.policies
		}
		d.table(n, t.name, fields)
	}
}

// field decodes one top-level key by its kind.
func (d *decoder) field(f *field[Config]) func(*node) {
	switch f.kind {
	case fPaths:
		return func(v *node) { d.l.lists[f.key] = append(d.l.lists[f.key], d.persistList(v)...) }
	case fSysctl:
		return func(v *node) { d.sysctlTable(f.key, v) }
	case fStrings:
		return d.strings(f.key)
	}
	return d.scalar(f.key, f.kind.toml())
}

// sysctlTable decodes a map of kernel parameters: a dotted or nested key
// (vm.swappiness = 1, [sysctl.vm] swappiness = 1) is one name, its parts
// joined with dots, as is a quoted one ("vm.swappiness" = 1); a slashed
// name ("vm/swappiness") means the same parameter. Each value is an
// integer or a non-empty array of integers. The same parameter twice in
// one file is an error (the TOML parser sees different keys).
func (d *decoder) sysctlTable(key string, n *node) {
	if !d.want(n, kTable) {
		return
	}
	entries := d.l.maps[key]
	if entries == nil {
		entries = []mapEntry{}
	}
	first := map[string]Pos{}
	var walk func(t *node, prefix string)
	walk = func(t *node, prefix string) {
		for _, k := range t.keys {
			v := t.fields[k]
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			if v.kind == kTable {
				walk(v, name)
				continue
			}
			val, ok := d.sysctlValue(v)
			if !ok {
				continue
			}
			e := mapEntry{name: name, key: strings.ReplaceAll(name, "/", "."), val: val, pos: v.pos}
			if p, dup := first[e.key]; dup {
				d.c.add(v.pos, "kernel parameter %s set twice in this file (first at %s)", e.key, p)
				continue
			}
			first[e.key] = v.pos
			entries = append(entries, e)
		}
	}
	walk(n, "")
	d.l.maps[key] = entries
}

// sysctlValue returns a kernel parameter's value as /proc/sys takes it:
// an integer, or the integers of an array separated by spaces.
func (d *decoder) sysctlValue(n *node) (string, bool) {
	switch n.kind {
	case kInteger:
		return strconv.FormatInt(n.num, 10), true
	case kArray:
		if len(n.elems) == 0 || len(n.elems) > MaxSysctlValues {
			d.c.add(n.pos, "expected 1 to %d integers, got %d", MaxSysctlValues, len(n.elems))
			return "", false
		}
		vals := make([]string, 0, len(n.elems))
		for _, e := range n.elems {
			if !d.want(e, kInteger) {
				return "", false
			}
			vals = append(vals, strconv.FormatInt(e.num, 10))
		}
		return strings.Join(vals, " "), true
	case kString:
		msg := "expected an integer or an array of integers, got a string"
		if f := strings.Fields(n.str); len(f) > 0 && allIntegers(f) {
			if len(f) == 1 {
				msg += fmt.Sprintf("; write %s without quotes", f[0])
			} else {
				msg += fmt.Sprintf("; write [%s]", strings.Join(f, ", "))
			}
		}
		d.c.add(n.pos, "%s", msg)
		return "", false
	}
	d.c.add(n.pos, "expected an integer or an array of integers, got %s", n.kind.article())
	return "", false
}

func allIntegers(fs []string) bool {
	for _, f := range fs {
		if _, err := strconv.ParseInt(f, 10, 64); err != nil {
			return false
		}
	}
	return true
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

// value returns the Go value of a scalar or an array of integers.
func (d *decoder) value(n *node) any {
	switch n.kind {
	case kString:
		return n.str
	case kInteger:
		return n.num
	case kBool:
		return n.b
	case kArray:
		ints := make([]int64, 0, len(n.elems))
		for _, e := range n.elems {
			if d.want(e, kInteger) {
				ints = append(ints, e.num)
			}
		}
		return ints
	}
	return nil
}

func (d *decoder) scalar(key string, k kind) func(*node) {
	return func(n *node) {
		if d.want(n, k) {
			d.l.values[key] = assignment{val: d.value(n), pos: n.pos}
		}
	}
}

// strings decodes an array of strings (fStrings).
func (d *decoder) strings(key string) func(*node) {
	return func(n *node) {
		if !d.want(n, kArray) {
			return
		}
		ss := make([]string, 0, len(n.elems))
		for _, e := range n.elems {
			if d.want(e, kString) {
				ss = append(ss, e.str)
			}
		}
		d.l.values[key] = assignment{val: ss, pos: n.pos}
	}
}

// entryFields returns the decoders of one entry of an array of tables,
// rows with dotted keys ("retention.daily") as nested tables; key gives
// the canonical key of a row.
func entryFields[T any](d *decoder, rows []field[T], where string, key func(string) string) map[string]func(*node) {
	fields := map[string]func(*node){}
	subs := map[string][]field[T]{}
	for _, f := range rows {
		if sub, rest, ok := strings.Cut(f.key, "."); ok {
			f.key = rest
			subs[sub] = append(subs[sub], f)
			continue
		}
		if f.kind == fStrings {
			fields[f.key] = d.strings(key(f.key))
		} else {
			fields[f.key] = d.scalar(key(f.key), f.kind.toml())
		}
	}
	for sub, rows := range subs {
		inner := entryFields(d, rows, where+"."+sub, func(k string) string { return key(sub + "." + k) })
		fields[sub] = func(n *node) { d.table(n, where+"."+sub, inner) }
	}
	return fields
}

// targets decodes the [[target]] entries, by name.
func (d *decoder) targets(n *node) {
	d.namedTables(n, "target", func(name string, e *node) {
		d.l.targets = append(d.l.targets, name)
		d.table(e, "[target]", entryFields(d, targetSchema, "[target]", func(k string) string { return targetKey(name, k) }))
	})
}

// subvolumes decodes the [[subvolume]] entries, by name.
func (d *decoder) subvolumes(n *node) {
	d.namedTables(n, "subvolume", func(name string, e *node) {
		d.l.subvolumes = append(d.l.subvolumes, name)
		d.table(e, "[subvolume]", entryFields(d, subvolumeSchema, "[subvolume]", func(k string) string { return subvolKey(name, k) }))
	})
}

// policies decodes the [policy.NAME] tables, by name (a valid name is
// checked with the rest, validate.go).
func (d *decoder) policies(n *node) {
	if !d.want(n, kTable) {
		return
	}
	for _, name := range n.keys {
		e := n.fields[name]
		where := policyTable + "." + name
		if !d.want(e, kTable) {
			continue
		}
		d.l.policies = append(d.l.policies, name)
		d.l.policyAt[name] = e.pos
		d.table(e, where, entryFields(d, policySchema, where, func(k string) string { return policyKey(name, k) }))
	}
}

// namedTables walks an array of [[what]] tables, each named by its name
// key: a table without a name, or with a name declared earlier in the same
// file, is an error and skipped; each is passed to each with its name.
func (d *decoder) namedTables(n *node, what string, each func(name string, e *node)) {
	if !d.want(n, kArray) {
		return
	}
	if !n.arrayOfTable {
		d.c.add(n.pos, "declare %ss as [[%s]] tables", what, what)
		return
	}
	first := map[string]Pos{}
	for _, e := range n.elems {
		nameNode, ok := e.fields["name"]
		if !ok {
			d.c.add(e.pos, "%s without a name", what)
			continue
		}
		if !d.want(nameNode, kString) {
			continue
		}
		name := nameNode.str
		if p, dup := first[name]; dup {
			d.c.add(nameNode.pos, "%s %q declared twice in this file (first at %s)", what, name, p)
			continue
		}
		first[name] = nameNode.pos
		each(name, e)
	}
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
			fields := map[string]func(*node){}
			for _, f := range persistEntrySchema {
				fields[f.key] = func(v *node) {
					if d.want(v, f.kind.toml()) {
						assign(f.to(&pe.p), d.value(v))
						pe.keyPos[f.key] = v.pos
					}
				}
			}
			d.table(e, "persist entry", fields)
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
