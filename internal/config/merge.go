package config

import (
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// merged holds the result of merging layers, before validation. The
// subvolume list has no default: a configuration declares its subvolumes
// (see DefaultTOML for the built-in default layout).
type merged struct {
	values     map[string]assignment
	subvolumes []string
	targets    []string
	policies   []string
	policyAt   map[string]Pos // where each policy is first declared
	lists      map[string][]persistEntry
	maps       map[string][]mapEntry
	main       Pos // position used for keys nobody set
}

// merge applies layers in order: scalars and tables key by key (later wins),
// [[subvolume]] and [[target]] entries by name (a later entry with the same
// name overrides the keys it sets, a new name is appended), persisted paths
// appended, a map's keys one by one (a later value replaces the earlier in
// its place).
func merge(layers []*layer, main string) *merged {
	m := &merged{values: map[string]assignment{}, lists: map[string][]persistEntry{}, maps: map[string][]mapEntry{}, main: Pos{File: main},
		policyAt: map[string]Pos{}}
	seen, seenTarget := map[string]bool{}, map[string]bool{}
	for _, l := range layers {
		for _, name := range l.policies {
			if _, ok := m.policyAt[name]; !ok {
				m.policyAt[name] = l.policyAt[name]
				m.policies = append(m.policies, name)
			}
		}
		for _, name := range l.targets {
			if !seenTarget[name] {
				seenTarget[name] = true
				m.targets = append(m.targets, name)
			}
		}
		for k, v := range l.values {
			m.values[k] = v
		}
		for _, name := range l.subvolumes {
			if !seen[name] {
				seen[name] = true
				m.subvolumes = append(m.subvolumes, name)
			}
		}
		for k, es := range l.lists {
			m.lists[k] = append(m.lists[k], es...)
		}
		for k, es := range l.maps {
			m.maps[k] = mergeMap(m.maps[k], es)
		}
	}
	return m
}

// mergeMap returns base with each entry of over replacing the entry of the
// same key in place, or appended.
func mergeMap(base, over []mapEntry) []mapEntry {
	out := append([]mapEntry{}, base...)
	for _, e := range over {
		i := slices.IndexFunc(out, func(b mapEntry) bool { return b.key == e.key })
		if i < 0 {
			out = append(out, e)
			continue
		}
		e.replaces = out[i].pos
		out[i] = e
	}
	return out
}

// pos returns where key was set, or a position naming the main file.
func (m *merged) pos(key string) Pos {
	if !isSchemaKey(key) {
		panic("config: no key " + key + " in the schema")
	}
	if a, ok := m.values[key]; ok {
		return a.pos
	}
	p := m.main
	p.Key = key
	return p
}

// set reports whether a file set key.
func (m *merged) set(key string) bool {
	_, ok := m.values[key]
	return ok
}

// get returns the value of key, or def when no file set it.
func (m *merged) get(key string, def any) any {
	if a, ok := m.values[key]; ok && a.val != nil {
		return a.val
	}
	return def
}

// build turns the merged values into a Config, row by row of the schema.
// A duration that does not parse is reported to e and left zero.
func (m *merged) build(files []string, e *collector) *Config {
	c := &Config{Files: files, origins: map[string]Pos{}}
	for _, f := range schema {
		switch f.kind {
		case fPaths:
			dst := f.to(c).(*[]PersistPath)
			for _, pe := range m.lists[f.key] {
				*dst = append(*dst, pe.p)
			}
			continue
		case fSysctl:
			dst := f.to(c).(*[]Sysctl)
			for _, e := range m.maps[f.key] {
				*dst = append(*dst, Sysctl{Key: e.key, Value: e.val, Pos: e.pos, Replaces: e.replaces})
			}
			continue
		case fDuration:
			d, err := timespan.Parse(m.get(f.key, f.def).(string))
			if err != nil {
				e.add(m.pos(f.key), "%v", err)
			}
			assign(f.to(c), d)
			continue
		}
		if v := m.get(f.key, f.def); v != nil {
			assign(f.to(c), v)
		}
	}
	for _, name := range m.policies {
		p := Policy{Name: name}
		key := func(k string) string { return policyKey(name, k) }
		buildEntry(m, policySchema, key, &p, e)
		m.inherit(c, key, &p.Schedule, &p.Retention)
		c.Policies = append(c.Policies, p)
	}
	for _, name := range m.subvolumes {
		s := Subvolume{}
		key := func(k string) string { return subvolKey(name, k) }
		buildEntry(m, subvolumeSchema, key, &s, e)
		if s.Class != Ephemeral {
			s.Blank, s.Archive = "", false // meaningless for permanent subvolumes
		}
		s.PolicyFrom = PolicyDefault
		if p, ok := c.Policy(s.Policy); ok && s.Policy != "" {
			s.PolicyFrom = policyTable + "." + p.Name
			s.Schedule, s.Retention = p.Schedule, p.Retention
		} else {
			if m.inherit(c, key, &s.Schedule, &s.Retention) {
				s.PolicyFrom = PolicyOwn
			}
		}
		c.Subvolumes = append(c.Subvolumes, s)
	}
	for _, name := range m.targets {
		c.Targets = append(c.Targets, m.buildTarget(c, name, e))
	}
	for k, a := range m.values {
		c.origins[k] = a.pos
	}
	return c
}

// buildTarget builds one [[target]] entry; its subvolumes default to every
// subvolume of c with snapshot = true.
func (m *merged) buildTarget(c *Config, name string, e *collector) Target {
	t := Target{}
	buildEntry(m, targetSchema, func(k string) string { return targetKey(name, k) }, &t, e)
	if !m.set(targetKey(name, "subvolumes")) {
		for _, s := range c.Subvolumes {
			if s.Snapshot && s.Class == Permanent {
				t.Subvolumes = append(t.Subvolumes, s.Name)
			}
		}
	}
	return t
}

// buildEntry fills dst, an entry of an array or a map of tables, row by
// row; key gives a row's canonical key. A duration that does not parse is
// reported to e and left zero.
func buildEntry[T any](m *merged, rows []field[T], key func(string) string, dst *T, e *collector) {
	for _, f := range rows {
		k := key(f.key)
		switch {
		case f.kind == fDuration:
			d, err := timespan.Parse(m.get(k, f.def).(string))
			if err != nil {
				e.add(m.pos(k), "%v", err)
			}
			assign(f.to(dst), d)
		case m.get(k, f.def) != nil:
			assign(f.to(dst), m.get(k, f.def))
		}
	}
}

// inherit gives a policy or a subvolume (its keys by key) [snapshots]'s
// schedule when it sets none, and [snapshots]'s retention when it writes
// no retention key; it reports whether the entry set either itself.
func (m *merged) inherit(c *Config, key func(string) string, schedule *string, r *Retention) bool {
	own := false
	if *schedule == "" {
		*schedule = c.Snapshots.Schedule
	} else {
		own = true
	}
	if m.setsRetention(key) {
		own = true
	} else {
		*r = c.Snapshots.Retention
	}
	return own
}

// setsRetention reports whether a file set a retention key of the entry.
func (m *merged) setsRetention(key func(string) string) bool {
	for _, f := range policySchema {
		if strings.HasPrefix(f.key, "retention.") && m.set(key(f.key)) {
			return true
		}
	}
	return false
}
