package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// wantDest is the destination type each kind must write to.
var wantDest = map[fieldKind][]reflect.Type{
	fString:   {reflect.TypeFor[*string](), reflect.TypeFor[*Mode](), reflect.TypeFor[*Class]()},
	fCount:    {reflect.TypeFor[*int]()},
	fBool:     {reflect.TypeFor[*bool]()},
	fUsage:    {reflect.TypeFor[*[]int]()},
	fDuration: {reflect.TypeFor[*time.Duration]()},
	fPaths:    {reflect.TypeFor[*[]PersistPath]()},
	fSysctl:   {reflect.TypeFor[*[]Sysctl]()},
	fStrings:  {reflect.TypeFor[*[]string]()},
}

// derived are the struct fields no key sets: what the loader fills in
// itself.
var derived = map[string]bool{
	"Config.Files":         true, // the files read
	"Config.Subvolumes":    true, // the [[subvolume]] entries, by subvolumeSchema
	"Config.Targets":       true, // the [[target]] entries, by targetSchema
	"Config.Policies":      true, // the [policy.NAME] tables, by policySchema
	"Subvolume.PolicyFrom": true, // where the effective policy comes from
	"Policy.Name":          true, // the table's key
	"PersistPath.Implicit": true, // StateDir, persisted by the loader
	// A target's retention shares the snapshot policy's type; the space
	// budget is the source filesystem's ([snapshots].retention), never a
	// target's: it stays 0 there.
	"Target.Retention.SpaceBudget": true,
}

// leaves returns the addresses of the exported leaf fields of the struct v
// points to, by their path ("Config.Archive.Dir").
func leaves(v reflect.Value, path string, into map[uintptr]string) {
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		if !sf.IsExported() {
			continue
		}
		f := v.Field(i)
		p := path + "." + sf.Name
		if f.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[time.Duration]() {
			leaves(f, p, into)
			continue
		}
		into[f.Addr().Pointer()] = p
	}
}

// checkRows checks one schema table: each row writes a distinct field of
// T of the type its kind needs, a count or duration has a range, and every
// exported field of T is written by a row or listed in derived.
func checkRows[T any](t *testing.T, rows []field[T]) {
	t.Helper()
	var x T
	fields := map[uintptr]string{}
	name := reflect.TypeFor[T]().Name()
	leaves(reflect.ValueOf(&x).Elem(), name, fields)
	written := map[string]string{}
	keys := map[string]bool{}
	for _, f := range rows {
		if keys[f.key] {
			t.Errorf("%s: key %q twice", name, f.key)
		}
		keys[f.key] = true
		dst := f.to(&x)
		if !slices.Contains(wantDest[f.kind], reflect.TypeOf(dst)) {
			t.Errorf("%s: key %q of kind %d writes to a %T", name, f.key, f.kind, dst)
		}
		p, ok := fields[reflect.ValueOf(dst).Pointer()]
		if !ok {
			t.Errorf("%s: key %q writes to no exported field of %s", name, f.key, name)
			continue
		}
		if other, dup := written[p]; dup {
			t.Errorf("%s: keys %q and %q both write %s", name, other, f.key, p)
		}
		written[p] = f.key
		if (f.kind == fCount || f.kind == fDuration || f.kind == fUsage || f.kind == fSysctl) && f.max <= 0 {
			t.Errorf("%s: key %q has no documented maximum", name, f.key)
		}
		if f.def != nil && f.kind == fString && f.check != nil && !(f.emptyOK && f.def == "") {
			if msg := f.check(f.def.(string)); msg != "" {
				t.Errorf("%s: default of %q fails its check: %s", name, f.key, msg)
			}
		}
	}
	for _, p := range fields {
		if _, ok := written[p]; !ok && !derived[p] {
			t.Errorf("%s has no key in the schema (add a row, or list it in derived)", p)
		}
	}
}

func TestSchemaRows(t *testing.T) {
	checkRows(t, schema)
	checkRows(t, subvolumeSchema)
	checkRows(t, persistEntrySchema)
	checkRows(t, targetSchema)
	checkRows(t, policySchema)
}

// defaultMerged decodes default.toml without validating or building it.
func defaultMerged(t *testing.T) *merged {
	t.Helper()
	c := &collector{}
	tree := parseTree("default.toml", 0, defaultTOML, c)
	if err := c.err(); err != nil {
		t.Fatal(err)
	}
	l := decodeLayer(tree, c)
	if err := c.err(); err != nil {
		t.Fatal(err)
	}
	return merge([]*layer{l}, "default.toml")
}

// TestDefaultDocumentSetsEveryKey: --print-default prints default.toml, so
// it writes every key of the schema, with the schema's default.
func TestDefaultDocumentSetsEveryKey(t *testing.T) {
	m := defaultMerged(t)
	for _, f := range schema {
		switch f.kind {
		case fPaths:
			if len(m.lists[f.key]) == 0 {
				t.Errorf("default.toml has no %s entry", f.key)
			}
			continue
		case fSysctl:
			// The table, empty: the mode's values are the default; its
			// comments show an example.
			if es, ok := m.maps[f.key]; !ok || len(es) != 0 {
				t.Errorf("default.toml: want an empty [%s] table, got %v (written: %t)", f.key, es, ok)
			}
			continue
		}
		a, ok := m.values[f.key]
		if !ok {
			t.Errorf("default.toml does not set %s", f.key)
			continue
		}
		if f.def != nil {
			if diff := cmp.Diff(f.def, a.val); diff != "" {
				t.Errorf("default.toml sets %s differently from the schema's default (-schema +default.toml):\n%s", f.key, diff)
			}
		}
	}
	for _, f := range subvolumeSchema {
		set := slices.ContainsFunc(m.subvolumes, func(name string) bool { return m.set(subvolKey(name, f.key)) })
		switch {
		case commentedInDefault[f.key]:
			// The built-in layout keeps [snapshots]'s policy: default.toml
			// shows the key in a commented example instead.
			first, _, _ := strings.Cut(f.key, ".")
			if !regexp.MustCompile(`(?m)^# *` + regexp.QuoteMeta(first) + ` +=`).Match(defaultTOML) {
				t.Errorf("default.toml shows no commented example of [[subvolume]].%s", f.key)
			}
			if set {
				t.Errorf("default.toml sets [[subvolume]].%s, listed in commentedInDefault", f.key)
			}
		case !set:
			t.Errorf("no [[subvolume]] of default.toml sets %s", f.key)
		}
	}
	for _, f := range policySchema {
		first, _, _ := strings.Cut(f.key, ".")
		if !regexp.MustCompile(`(?m)^# *` + regexp.QuoteMeta(first) + ` +=`).Match(defaultTOML) {
			t.Errorf("default.toml shows no commented example of [policy.NAME].%s", f.key)
		}
	}
}

// commentedInDefault are the [[subvolume]] keys default.toml shows in
// comments only: the built-in layout follows [snapshots] and runs no hook.
var commentedInDefault = map[string]bool{
	"policy": true, "schedule": true, "retention.hourly": true, "retention.daily": true,
	"retention.weekly": true, "retention.monthly": true, "retention.yearly": true,
	"retention.keep_min": true, "retention.space_budget": true, "retention.min_age": true,
}

// docDefault renders a default as the docs write it; "" for a required key.
func docDefault(kind fieldKind, def any) string {
	if kind == fSysctl {
		return "unset"
	}
	switch v := def.(type) {
	case nil:
		if kind == fPaths || kind == fStrings {
			return "`[]`"
		}
		return ""
	case string:
		if v == "" {
			return "`\"\"`"
		}
		return "`" + v + "`"
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return "`" + strconv.FormatBool(v) + "`"
	case []int64:
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.FormatInt(x, 10)
		}
		return "`[" + strings.Join(s, ", ") + "]`"
	}
	panic(fmt.Sprintf("default %T", def))
}

// docType renders a kind and its range as the docs write it.
func docType(kind fieldKind, max int64) string {
	switch kind {
	case fString:
		return "string"
	case fCount:
		return fmt.Sprintf("integer 0..%d", max)
	case fBool:
		return "boolean"
	case fUsage:
		return fmt.Sprintf("array of integers 0..%d", max)
	case fDuration:
		return "time span 0.." + timespan.Format(time.Duration(max))
	case fPaths:
		names := make([]string, len(persistEntrySchema))
		for i, f := range persistEntrySchema {
			names[i] = f.key
		}
		return "array of path strings or `{ " + strings.Join(names, ", ") + " }`"
	case fSysctl:
		return "integer or array of integers"
	case fStrings:
		return "array of strings"
	}
	panic(fmt.Sprintf("kind %d", kind))
}

// docRow is one key as a document describes it.
type docRow struct{ typ, def string }

// configDocRows reads the key table of docs/config.md: the first column
// names the keys (`a.b`, `[[subvolume]].name`), then type and default.
func configDocRows(t *testing.T) map[string]docRow {
	t.Helper()
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, " | ")
		if len(cells) < 3 {
			continue
		}
		for _, k := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[0], -1) {
			rows[k[1]] = docRow{typ: cells[1], def: cells[2]}
		}
	}
	return rows
}

// manPageRows reads the definitions of server-impermanence.toml(5): under
// "## [table]" (or TOP-LEVEL KEYS), lines "`key` (type, default X)".
func manPageRows(t *testing.T) map[string]docRow {
	t.Helper()
	b, err := os.ReadFile("../../docs/man/server-impermanence.toml.5.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]docRow{}
	section := ""
	def := regexp.MustCompile("^((?:`(?:[a-z_]+|<[a-z]+>)`(?:, )?)+) \\((.*)\\)$")
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.Trim(h, "[]")
			if h == "TOP-LEVEL KEYS" {
				section = ""
			}
			continue
		}
		m := def.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, k := range strings.Split(m[1], ", ") {
			k = strings.Trim(k, "`")
			if section != "" {
				k = section + "." + k
			}
			rows[k] = docRow{typ: m[2], def: m[2]}
		}
	}
	return rows
}

// TestSchemaIsDocumented: every key of the schema has a row in
// docs/config.md and a definition in server-impermanence.toml(5) that
// give its type, its range and its default.
func TestSchemaIsDocumented(t *testing.T) {
	type key struct {
		doc, man string // as docs/config.md and the man page name it
		kind     fieldKind
		def      any
		max      int64
	}
	var keys []key
	for _, f := range schema {
		if f.kind == fSysctl {
			// A map: the docs describe one of its keys.
			keys = append(keys, key{f.key + ".<parameter>", f.key + ".<parameter>", f.kind, f.def, f.max})
			continue
		}
		keys = append(keys, key{f.key, f.key, f.kind, f.def, f.max})
	}
	for _, f := range subvolumeSchema {
		keys = append(keys, key{"[[subvolume]]." + f.key, subvolumeTable + "." + f.key, f.kind, f.def, f.max})
	}
	for _, f := range policySchema {
		keys = append(keys, key{"[policy.NAME]." + f.key, policyTable + ".NAME." + f.key, f.kind, f.def, f.max})
	}
	docs, man := configDocRows(t), manPageRows(t)
	for _, k := range keys {
		typ, def := docType(k.kind, k.max), docDefault(k.kind, k.def)
		if r, ok := docs[k.doc]; !ok {
			t.Errorf("docs/config.md: no row for %s", k.doc)
		} else {
			if !strings.Contains(r.typ, typ) {
				t.Errorf("docs/config.md: %s: type %q, want %q", k.doc, r.typ, typ)
			}
			want := def
			if want == "" {
				want = "— (required)"
			}
			if r.def != want && !strings.HasPrefix(r.def, want+" ") {
				t.Errorf("docs/config.md: %s: default %q, want %q", k.doc, r.def, want)
			}
		}
		if r, ok := man[k.man]; !ok {
			t.Errorf("server-impermanence.toml.5.md: no definition of %s", k.man)
		} else {
			if !strings.HasPrefix(r.typ, typ+",") {
				t.Errorf("server-impermanence.toml.5.md: %s: %q does not start with %q", k.man, r.typ, typ+",")
			}
			want := "default " + def
			if def == "" {
				want = "required"
			}
			if !strings.Contains(r.def+",", want+",") && !strings.Contains(r.def, want+":") {
				t.Errorf("server-impermanence.toml.5.md: %s: %q does not say %q", k.man, r.def, want)
			}
		}
	}
}
