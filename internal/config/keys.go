package config

import (
	"reflect"
	"time"
)

// Key is one row of the schema as other packages see it: the tests that
// walk every key (internal/adversarial) and the documentation of the
// limits read it instead of repeating the table.
type Key struct {
	// Table is "" for a top-level key (Name is its dotted path,
	// "archive.keep_days"), "subvolume" for a key of a [[subvolume]]
	// entry, "target" for a key of a [[target]] entry (Name is dotted
	// within it, "retention.daily"), "policy" for a key of a
	// [policy.NAME] table (likewise), "persist" for a key of a persisted
	// path's table form.
	Table string
	Name  string
	// Kind is "string", "strings" (an array of strings), "count", "bool",
	// "usage" (an array of percentages), "duration" (a systemd time
	// span), "paths" or "sysctl" (a table of kernel parameters; Max
	// bounds their number).
	Kind string
	// Max is the documented maximum of a count, a usage percentage or a
	// duration (in nanoseconds); 0 for the other kinds. The minimum is 0.
	Max int64
	// Checked says a string is checked beyond its type (a path, a name, a
	// schedule ...).
	Checked bool
}

// Keys returns every key of the schema, in table order: the top-level
// rows, then those of every table the decoder walks ([[subvolume]],
// [[target]], a persisted path's table).
func Keys() []Key {
	var out []Key
	out = appendKeys(out, "", schema)
	out = appendKeys(out, subvolumeTable, subvolumeSchema)
	out = appendKeys(out, targetTable, targetSchema)
	out = appendKeys(out, policyTable, policySchema)
	return appendKeys(out, "persist", persistEntrySchema)
}

func appendKeys[T any](out []Key, table string, rows []field[T]) []Key {
	for _, f := range rows {
		out = append(out, Key{Table: table, Name: f.key, Kind: kindNames[f.kind], Max: f.max, Checked: f.check != nil})
	}
	return out
}

var kindNames = map[fieldKind]string{fString: "string", fStrings: "strings", fCount: "count", fBool: "bool",
	fUsage: "usage", fDuration: "duration", fPaths: "paths", fSysctl: "sysctl"}

// Value returns the value a top-level key of the schema holds in c: a
// string, int, bool, []int, []string, time.Duration or []PersistPath.
func (c *Config) Value(key string) (any, bool) {
	f, ok := lookup(schema, key)
	if !ok {
		return nil, false
	}
	return deref(f.to(c)), true
}

// Value returns the value a [[subvolume]] key holds in s.
func (s Subvolume) Value(key string) (any, bool) {
	f, ok := lookup(subvolumeSchema, key)
	if !ok {
		return nil, false
	}
	return deref(f.to(&s)), true
}

// Value returns the value a [[target]] key holds in t.
func (t Target) Value(key string) (any, bool) {
	f, ok := lookup(targetSchema, key)
	if !ok {
		return nil, false
	}
	return deref(f.to(&t)), true
}

// Value returns the value a [policy.NAME] key holds in p.
func (p Policy) Value(key string) (any, bool) {
	f, ok := lookup(policySchema, key)
	if !ok {
		return nil, false
	}
	return deref(f.to(&p)), true
}

// Value returns the value a persisted path's key holds in p.
func (p PersistPath) Value(key string) (any, bool) {
	f, ok := lookup(persistEntrySchema, key)
	if !ok {
		return nil, false
	}
	return deref(f.to(&p)), true
}

func deref(p any) any {
	switch v := p.(type) {
	case *string:
		return *v
	case *[]string:
		return *v
	case *Mode:
		return string(*v)
	case *Class:
		return string(*v)
	case *int:
		return *v
	case *bool:
		return *v
	case *[]int:
		return *v
	case *[]PersistPath:
		return *v
	case *[]Sysctl:
		return *v
	case *time.Duration:
		return *v
	}
	panic("config: no value of a " + reflect.TypeOf(p).String())
}
