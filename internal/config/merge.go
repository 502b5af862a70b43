package config

import (
	"time"
)

// Defaults for keys a configuration leaves out. The subvolume list has no
// default: a configuration declares its subvolumes (see DefaultTOML for the
// specification's layout).
var keyDefaults = map[string]any{
	"mode":                               string(ModeBalanced),
	"archive.dir":                        "old_roots",
	"archive.keep_days":                  int64(30),
	"archive.keep_min":                   int64(3),
	"persist.subvolume":                  "@persist",
	"snapshots.dir":                      "@snapshots",
	"snapshots.schedule":                 "hourly",
	"snapshots.retention.hourly":         int64(24),
	"snapshots.retention.daily":          int64(7),
	"snapshots.retention.weekly":         int64(4),
	"snapshots.retention.monthly":        int64(12),
	"snapshots.retention.yearly":         int64(0),
	"snapshots.retention.keep_min":       int64(1),
	"snapshots.retention.min_age":        "30m",
	"cleanup.schedule":                   "daily",
	"maintenance.schedule":               "weekly",
	"maintenance.balance_data_usage":     []int64{5, 10, 25},
	"maintenance.balance_metadata_usage": []int64{5},
	"maintenance.scrub":                  true,
	"exporter.listen":                    "127.0.0.1:9857",
	"exporter.textfile_dir":              "/var/lib/prometheus/node-exporter",
}

// Per-subvolume defaults. Class defaults to permanent (never wiped); an
// ephemeral subvolume archives its previous state unless told otherwise.
var subvolumeDefaults = map[string]any{
	"class": string(Permanent), "compression": "", "cow": true, "snapshot": false,
	"blank": "", "archive": true,
}

// merged holds the result of merging layers, before validation.
type merged struct {
	values     map[string]assignment
	subvolumes []string
	dirs       []persistEntry
	files      []persistEntry
	main       Pos // position used for keys nobody set
}

// merge applies layers in order: scalars and tables key by key (later wins),
// [[subvolume]] entries by name (a later entry with the same name overrides
// the keys it sets, a new name is appended), persisted paths appended.
func merge(layers []*layer, main string) *merged {
	m := &merged{values: map[string]assignment{}, main: Pos{File: main}}
	seen := map[string]bool{}
	for _, l := range layers {
		for k, v := range l.values {
			m.values[k] = v
		}
		for _, name := range l.subvolumes {
			if !seen[name] {
				seen[name] = true
				m.subvolumes = append(m.subvolumes, name)
			}
		}
		m.dirs = append(m.dirs, l.dirs...)
		m.files = append(m.files, l.files...)
	}
	return m
}

// pos returns where key was set, or a position naming the main file.
func (m *merged) pos(key string) Pos {
	if a, ok := m.values[key]; ok {
		return a.pos
	}
	p := m.main
	p.Key = key
	return p
}

func (m *merged) get(key string, def any) any {
	if a, ok := m.values[key]; ok && a.val != nil {
		return a.val
	}
	return def
}

func (m *merged) str(key string) string {
	s, _ := m.get(key, keyDefaults[key]).(string)
	return s
}

func (m *merged) int(key string) int {
	i, _ := m.get(key, keyDefaults[key]).(int64)
	return clampInt(i)
}

func (m *merged) bool(key string) bool {
	b, _ := m.get(key, keyDefaults[key]).(bool)
	return b
}

func (m *merged) ints(key string) []int {
	v, _ := m.get(key, keyDefaults[key]).([]int64)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = clampInt(x)
	}
	return out
}

func clampInt(i int64) int {
	const maxInt = int64(^uint(0) >> 1)
	if i > maxInt {
		return int(maxInt)
	}
	if i < -maxInt {
		return int(-maxInt)
	}
	return int(i)
}

// build turns the merged values into a Config; durations that do not parse
// are left zero (validate reports them).
func (m *merged) build(files []string, minAge time.Duration) *Config {
	c := &Config{
		Device: m.str("device"),
		Mode:   Mode(m.str("mode")),
		Archive: Archive{
			Dir:      m.str("archive.dir"),
			KeepDays: m.int("archive.keep_days"),
			KeepMin:  m.int("archive.keep_min"),
		},
		Persist: Persist{Subvolume: m.str("persist.subvolume")},
		Snapshots: Snapshots{
			Dir:      m.str("snapshots.dir"),
			Schedule: m.str("snapshots.schedule"),
			Retention: Retention{
				Hourly:  m.int("snapshots.retention.hourly"),
				Daily:   m.int("snapshots.retention.daily"),
				Weekly:  m.int("snapshots.retention.weekly"),
				Monthly: m.int("snapshots.retention.monthly"),
				Yearly:  m.int("snapshots.retention.yearly"),
				KeepMin: m.int("snapshots.retention.keep_min"),
				MinAge:  minAge,
			},
		},
		Cleanup: Schedule{Schedule: m.str("cleanup.schedule")},
		Maintenance: Maintenance{
			Schedule:             m.str("maintenance.schedule"),
			BalanceDataUsage:     m.ints("maintenance.balance_data_usage"),
			BalanceMetadataUsage: m.ints("maintenance.balance_metadata_usage"),
			Scrub:                m.bool("maintenance.scrub"),
		},
		Exporter: Exporter{
			Listen:      m.str("exporter.listen"),
			TextfileDir: m.str("exporter.textfile_dir"),
		},
		Files:   files,
		origins: map[string]Pos{},
	}
	for _, name := range m.subvolumes {
		sv := func(f string) any { return m.get(subvolKey(name, f), subvolumeDefaults[f]) }
		s := Subvolume{Name: name}
		s.Mountpoint, _ = sv("mountpoint").(string)
		cl, _ := sv("class").(string)
		s.Class = Class(cl)
		s.Compression, _ = sv("compression").(string)
		s.CoW, _ = sv("cow").(bool)
		s.Snapshot, _ = sv("snapshot").(bool)
		s.Blank, _ = sv("blank").(string)
		s.Archive, _ = sv("archive").(bool)
		if s.Class != Ephemeral {
			s.Blank, s.Archive = "", false // meaningless for permanent subvolumes
		}
		c.Subvolumes = append(c.Subvolumes, s)
	}
	for _, e := range m.dirs {
		c.Persist.Directories = append(c.Persist.Directories, e.p)
	}
	for _, e := range m.files {
		c.Persist.Files = append(c.Persist.Files, e.p)
	}
	for k, a := range m.values {
		c.origins[k] = a.pos
	}
	return c
}
