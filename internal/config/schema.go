package config

import (
	"fmt"
	"strings"
	"time"
)

// The schema: every key a configuration may set, in three tables (the
// top level and its tables, a [[subvolume]] entry, a persisted path
// entry). Each row gives the key, its kind, its default, the documented
// range of a count or duration, the syntax check of a string and where the
// value goes in the struct. Decoding, defaults, building, the range and
// syntax checks, and the tests that keep default.toml, the man page and
// docs/config.md complete all read these tables; adding a key means adding
// a row, the struct field and the code that uses it.
//
// Rules that relate keys to each other (a blank that is a configured
// subvolume, a persisted path on a permanent subvolume, ...) are in
// validate.go.

// fieldKind is what a key holds: its TOML type and its Go type.
type fieldKind int

const (
	// fString is a TOML string into a string (or Mode, Class).
	fString fieldKind = iota
	// fCount is a TOML integer 0..max into an int.
	fCount
	// fBool is a TOML boolean into a bool.
	fBool
	// fUsage is a list of balance usage filters: a TOML array of
	// percentages 0..max, strictly ascending, into an []int.
	fUsage
	// fDuration is a systemd time span (a TOML string) 0..max into a
	// time.Duration.
	fDuration
	// fPaths is a TOML array of paths or path tables (persisted paths)
	// into a []PersistPath. Drop-ins append to it.
	fPaths
	// fSysctl is a map: a TOML table of kernel parameters (vm.swappiness,
	// written dotted, quoted or slashed; check validates each name) to an
	// integer or an array of integers, into a []Sysctl. Drop-ins add keys
	// and override them key by key.
	fSysctl
	// fStrings is a TOML array of strings into a []string; each element
	// is checked by the row's check. A later file replaces it.
	fStrings
)

// toml is the TOML type a key of this kind is written as.
func (k fieldKind) toml() kind {
	switch k {
	case fCount:
		return kInteger
	case fBool:
		return kBool
	case fUsage, fPaths, fStrings:
		return kArray
	case fSysctl:
		return kTable
	}
	return kString
}

// field is one key of a schema table; T is the struct its table fills.
type field[T any] struct {
	// key is the path below the table: "archive.keep_days" at the top
	// level, "mountpoint" in a [[subvolume]].
	key  string
	kind fieldKind
	// def is the default: string, int64, bool, []int64 or nil (required,
	// empty for fPaths, computed by build for fStrings).
	def any
	// max is the documented maximum of a count, a percentage or a
	// duration (in nanoseconds), the minimum 0; of a map, the most keys.
	max int64
	// check returns what is wrong with a string value (of a map: a key),
	// or "". A value of "" is not checked when emptyOK.
	check   func(string) string
	emptyOK bool
	// to returns a pointer to the field in T the value goes to: *string,
	// *Mode, *Class, *int, *bool, *[]int, *time.Duration, *[]string,
	// *[]PersistPath or *[]Sysctl.
	to func(*T) any
}

// schema is the top level and its tables.
var schema = []field[Config]{
	{key: "device", kind: fString, check: checkDevice,
		to: func(c *Config) any { return &c.Device }},
	{key: "mode", kind: fString, def: string(ModeBalanced), check: checkMode,
		to: func(c *Config) any { return &c.Mode }},

	{key: "archive.dir", kind: fString, def: "old_roots", check: named("archive dir", checkRelPath),
		to: func(c *Config) any { return &c.Archive.Dir }},
	{key: "archive.keep_days", kind: fCount, def: int64(30), max: MaxKeepDays,
		to: func(c *Config) any { return &c.Archive.KeepDays }},
	{key: "archive.keep_min", kind: fCount, def: int64(3), max: MaxCount,
		to: func(c *Config) any { return &c.Archive.KeepMin }},

	{key: "blank.keep", kind: fCount, def: int64(3), max: MaxBlankHistory,
		to: func(c *Config) any { return &c.Blank.Keep }},
	{key: "blank.tries", kind: fCount, def: int64(2), max: MaxBlankTries,
		to: func(c *Config) any { return &c.Blank.Tries }},

	{key: "persist.subvolume", kind: fString, def: "@persist",
		to: func(c *Config) any { return &c.Persist.Subvolume }},
	{key: "persist.directories", kind: fPaths, check: named("persisted directory", checkPersistPath),
		to: func(c *Config) any { return &c.Persist.Directories }},
	{key: "persist.files", kind: fPaths, check: named("persisted file", checkPersistPath),
		to: func(c *Config) any { return &c.Persist.Files }},

	{key: "snapshots.dir", kind: fString, def: "@snapshots", check: named("snapshots dir", checkRelPath),
		to: func(c *Config) any { return &c.Snapshots.Dir }},
	{key: "snapshots.schedule", kind: fString, def: "hourly", check: checkSchedule,
		to: func(c *Config) any { return &c.Snapshots.Schedule }},
	{key: "snapshots.retention.hourly", kind: fCount, def: int64(24), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.Hourly }},
	{key: "snapshots.retention.daily", kind: fCount, def: int64(7), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.Daily }},
	{key: "snapshots.retention.weekly", kind: fCount, def: int64(4), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.Weekly }},
	{key: "snapshots.retention.monthly", kind: fCount, def: int64(12), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.Monthly }},
	{key: "snapshots.retention.yearly", kind: fCount, def: int64(0), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.Yearly }},
	{key: "snapshots.retention.keep_min", kind: fCount, def: int64(1), max: MaxCount,
		to: func(c *Config) any { return &c.Snapshots.Retention.KeepMin }},
	{key: "snapshots.retention.space_budget", kind: fCount, def: int64(0), max: MaxOverheadBudget,
		to: func(c *Config) any { return &c.Snapshots.Retention.SpaceBudget }},
	{key: "snapshots.retention.min_age", kind: fDuration, def: "30m", max: int64(MaxMinAge),
		to: func(c *Config) any { return &c.Snapshots.Retention.MinAge }},

	{key: "cleanup.schedule", kind: fString, def: "daily", check: checkSchedule,
		to: func(c *Config) any { return &c.Cleanup.Schedule }},

	{key: "maintenance.schedule", kind: fString, def: "weekly", check: checkSchedule,
		to: func(c *Config) any { return &c.Maintenance.Schedule }},
	{key: "maintenance.balance_data_usage", kind: fUsage, def: []int64{5, 10, 25}, max: 100,
		to: func(c *Config) any { return &c.Maintenance.BalanceDataUsage }},
	{key: "maintenance.balance_metadata_usage", kind: fUsage, def: []int64{5}, max: 100,
		to: func(c *Config) any { return &c.Maintenance.BalanceMetadataUsage }},
	{key: "maintenance.scrub", kind: fBool, def: true,
		to: func(c *Config) any { return &c.Maintenance.Scrub }},
	{key: "maintenance.overhead_budget", kind: fCount, def: int64(15), max: MaxOverheadBudget,
		to: func(c *Config) any { return &c.Maintenance.OverheadBudget }},

	{key: "exporter.listen", kind: fString, def: "127.0.0.1:9857", check: checkListen, emptyOK: true,
		to: func(c *Config) any { return &c.Exporter.Listen }},
	{key: "exporter.textfile_dir", kind: fString, def: "/var/lib/prometheus/node-exporter", check: checkTextfileDir, emptyOK: true,
		to: func(c *Config) any { return &c.Exporter.TextfileDir }},

	{key: "alerts.free_space_percent", kind: fCount, def: int64(10), max: 100,
		to: func(c *Config) any { return &c.Alerts.FreeSpacePercent }},
	{key: "alerts.space_exhaustion_horizon", kind: fDuration, def: "1d", max: int64(MaxAlertSpan),
		to: func(c *Config) any { return &c.Alerts.SpaceExhaustionHorizon }},
	{key: "alerts.snapshot_stale_intervals", kind: fCount, def: int64(2), max: MaxCount,
		to: func(c *Config) any { return &c.Alerts.SnapshotStaleIntervals }},
	{key: "alerts.archive_grace", kind: fDuration, def: "2d", max: int64(MaxAlertSpan),
		to: func(c *Config) any { return &c.Alerts.ArchiveGrace }},
	{key: "alerts.snapshot_slow", kind: fDuration, def: "30s", max: int64(MaxAlertSpan),
		to: func(c *Config) any { return &c.Alerts.SnapshotSlow }},
	{key: "alerts.rollback_slow", kind: fDuration, def: "2min", max: int64(MaxAlertSpan),
		to: func(c *Config) any { return &c.Alerts.RollbackSlow }},

	{key: "notify.command", kind: fStrings, check: checkNotifyArg,
		to: func(c *Config) any { return &c.Notify.Command }},
	{key: "notify.timeout", kind: fDuration, def: "30s", max: int64(MaxNotifyTimeout),
		to: func(c *Config) any { return &c.Notify.Timeout }},
	{key: "notify.journal_lines", kind: fCount, def: int64(20), max: MaxNotifyLines,
		to: func(c *Config) any { return &c.Notify.JournalLines }},

	{key: "sysctl", kind: fSysctl, max: MaxSysctlKeys, check: checkSysctlKey,
		to: func(c *Config) any { return &c.Sysctl }},
}

// subvolumeTable is the top-level key of the [[subvolume]] entries.
const subvolumeTable = "subvolume"

// subvolumeSchema is one [[subvolume]] entry. Class defaults to permanent
// (never wiped); an ephemeral subvolume archives its previous state unless
// told otherwise.
var subvolumeSchema = append([]field[Subvolume]{
	{key: "name", kind: fString, check: named("subvolume name", checkRelPath),
		to: func(s *Subvolume) any { return &s.Name }},
	{key: "mountpoint", kind: fString, check: named("mountpoint", checkMountpoint),
		to: func(s *Subvolume) any { return &s.Mountpoint }},
	{key: "class", kind: fString, def: string(Permanent), check: checkClass,
		to: func(s *Subvolume) any { return &s.Class }},
	{key: "compression", kind: fString, def: "", check: checkCompression, emptyOK: true,
		to: func(s *Subvolume) any { return &s.Compression }},
	{key: "cow", kind: fBool, def: true,
		to: func(s *Subvolume) any { return &s.CoW }},
	{key: "snapshot", kind: fBool, def: false,
		to: func(s *Subvolume) any { return &s.Snapshot }},
	{key: "blank", kind: fString, def: "", check: named("blank", checkRelPath), emptyOK: true,
		to: func(s *Subvolume) any { return &s.Blank }},
	{key: "archive", kind: fBool, def: true,
		to: func(s *Subvolume) any { return &s.Archive }},
	// The subvolume's snapshot policy: a named one, or its own schedule
	// and retention (not both, validate.go); what it leaves out comes
	// from [snapshots] (build resolves the effective policy).
	{key: "policy", kind: fString, def: "", check: checkPolicyName, emptyOK: true,
		to: func(s *Subvolume) any { return &s.Policy }},
	{key: "schedule", kind: fString, def: "", check: checkSchedule, emptyOK: true,
		to: func(s *Subvolume) any { return &s.Schedule }},
}, retentionRows(func(s *Subvolume) *Retention { return &s.Retention })...)

// policyTable is the top-level key of the [policy.NAME] tables.
const policyTable = "policy"

// policySchema is one [policy.NAME] table: a schedule and a retention a
// subvolume names with policy = "NAME". An empty schedule, and a
// retention the table does not write, are [snapshots]'s.
var policySchema = append([]field[Policy]{
	{key: "schedule", kind: fString, def: "", check: checkSchedule, emptyOK: true,
		to: func(p *Policy) any { return &p.Schedule }},
}, retentionRows(func(p *Policy) *Retention { return &p.Retention })...)

// retentionRows are the retention keys of a policy or a subvolume, whose
// retention, once written, is the whole policy: a bucket it leaves out
// keeps none, keep_min and min_age keep [snapshots]'s defaults.
func retentionRows[T any](r func(*T) *Retention) []field[T] {
	return []field[T]{
		{key: "retention.hourly", kind: fCount, def: int64(0), max: MaxCount,
			to: func(t *T) any { return &r(t).Hourly }},
		{key: "retention.daily", kind: fCount, def: int64(0), max: MaxCount,
			to: func(t *T) any { return &r(t).Daily }},
		{key: "retention.weekly", kind: fCount, def: int64(0), max: MaxCount,
			to: func(t *T) any { return &r(t).Weekly }},
		{key: "retention.monthly", kind: fCount, def: int64(0), max: MaxCount,
			to: func(t *T) any { return &r(t).Monthly }},
		{key: "retention.yearly", kind: fCount, def: int64(0), max: MaxCount,
			to: func(t *T) any { return &r(t).Yearly }},
		{key: "retention.keep_min", kind: fCount, def: int64(1), max: MaxCount,
			to: func(t *T) any { return &r(t).KeepMin }},
		{key: "retention.space_budget", kind: fCount, def: int64(0), max: MaxOverheadBudget,
			to: func(t *T) any { return &r(t).SpaceBudget }},
		{key: "retention.min_age", kind: fDuration, def: "30m", max: int64(MaxMinAge),
			to: func(t *T) any { return &r(t).MinAge }},
	}
}

// targetTable is the top-level key of the [[target]] entries.
const targetTable = "target"

// targetSchema is one [[target]] entry: a place snapshots are replicated
// to. Subvolumes defaults to every subvolume with snapshot = true (build
// fills it in). identity_file, compress and rate_limit apply to SSH
// targets only, recipients and full_every to stream targets only
// (validate.go).
var targetSchema = []field[Target]{
	{key: "name", kind: fString, check: checkTargetName,
		to: func(t *Target) any { return &t.Name }},
	{key: "url", kind: fString, check: checkTargetURL,
		to: func(t *Target) any { return &t.URL }},
	{key: "subvolumes", kind: fStrings, check: named("subvolume name", checkRelPath),
		to: func(t *Target) any { return &t.Subvolumes }},
	{key: "format", kind: fString, def: FormatBtrfs, check: checkFormat,
		to: func(t *Target) any { return &t.Format }},
	{key: "schedule", kind: fString, def: "daily", check: checkSchedule,
		to: func(t *Target) any { return &t.Schedule }},
	{key: "retention.hourly", kind: fCount, def: int64(0), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.Hourly }},
	{key: "retention.daily", kind: fCount, def: int64(14), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.Daily }},
	{key: "retention.weekly", kind: fCount, def: int64(8), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.Weekly }},
	{key: "retention.monthly", kind: fCount, def: int64(24), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.Monthly }},
	{key: "retention.yearly", kind: fCount, def: int64(0), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.Yearly }},
	{key: "retention.keep_min", kind: fCount, def: int64(1), max: MaxCount,
		to: func(t *Target) any { return &t.Retention.KeepMin }},
	{key: "retention.min_age", kind: fDuration, def: "0", max: int64(MaxMinAge),
		to: func(t *Target) any { return &t.Retention.MinAge }},
	{key: "identity_file", kind: fString, def: "", check: checkAbsPath, emptyOK: true,
		to: func(t *Target) any { return &t.IdentityFile }},
	{key: "compress", kind: fString, def: CompressNone, check: checkCompress,
		to: func(t *Target) any { return &t.Compress }},
	{key: "rate_limit", kind: fString, def: "", check: checkRateLimit, emptyOK: true,
		to: func(t *Target) any { return &t.RateLimit }},
	{key: "recipients", kind: fStrings, check: checkAgeRecipient,
		to: func(t *Target) any { return &t.Recipients }},
	{key: "full_every", kind: fString, def: "monthly", check: checkSchedule,
		to: func(t *Target) any { return &t.FullEvery }},
}

// persistEntrySchema is the table form of a persisted path,
// { path = "...", user = "...", group = "...", mode = "..." }. The path is
// checked by the list's own check (a directory or a file).
var persistEntrySchema = []field[PersistPath]{
	{key: "path", kind: fString,
		to: func(p *PersistPath) any { return &p.Path }},
	{key: "user", kind: fString, def: "", check: checkUser, emptyOK: true,
		to: func(p *PersistPath) any { return &p.User }},
	{key: "group", kind: fString, def: "", check: checkGroup, emptyOK: true,
		to: func(p *PersistPath) any { return &p.Group }},
	{key: "mode", kind: fString, def: "", check: checkFileMode, emptyOK: true,
		to: func(p *PersistPath) any { return &p.Mode }},
}

// lookup returns the row of key in fs.
func lookup[T any](fs []field[T], key string) (*field[T], bool) {
	for i := range fs {
		if fs[i].key == key {
			return &fs[i], true
		}
	}
	return nil, false
}

// mustField returns the row of a top-level key; an unknown key is a bug in
// this package.
func mustField(key string) *field[Config] {
	f, ok := lookup(schema, key)
	if !ok {
		panic("config: no key " + key + " in the schema")
	}
	return f
}

// isSchemaKey reports whether key is a canonical key path of the schema:
// "archive.dir", `subvolume["@nix"].cow`, `target["usb"].retention.daily`,
// "persist.directories".
func isSchemaKey(key string) bool {
	entry := func(table string) (string, bool) {
		rest, ok := strings.CutPrefix(key, table+"[")
		if !ok {
			return "", false
		}
		i := strings.LastIndex(rest, "].")
		if i < 0 {
			return "", true
		}
		return rest[i+2:], true
	}
	if k, ok := entry(subvolumeTable); ok {
		_, ok := lookup(subvolumeSchema, k)
		return ok
	}
	if k, ok := entry(targetTable); ok {
		_, ok := lookup(targetSchema, k)
		return ok
	}
	if k, ok := entry(policyTable); ok {
		_, ok := lookup(policySchema, k)
		return ok
	}
	_, ok := lookup(schema, key)
	return ok
}

// assign stores v (a decoded value, already converted for fDuration) into
// the pointer dst a row's to returned.
func assign(dst, v any) {
	switch d := dst.(type) {
	case *string:
		*d = v.(string)
	case *Mode:
		*d = Mode(v.(string))
	case *Class:
		*d = Class(v.(string))
	case *int:
		*d = clampInt(v.(int64))
	case *bool:
		*d = v.(bool)
	case *[]int:
		in := v.([]int64)
		out := make([]int, len(in))
		for i, x := range in {
			out[i] = clampInt(x)
		}
		*d = out
	case *time.Duration:
		*d = v.(time.Duration)
	case *[]string:
		*d = append([]string(nil), v.([]string)...)
	default:
		panic(fmt.Sprintf("config: schema destination %T for a %T", dst, v))
	}
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

// named prefixes a check's message with what the value is.
func named(what string, check func(string) string) func(string) string {
	return func(s string) string {
		if msg := check(s); msg != "" {
			return what + " " + msg
		}
		return ""
	}
}
