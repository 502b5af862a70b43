package config

import (
	"slices"
	"testing"
	"time"
)

// TestKeys: Keys lists every row of the five tables with its kind and
// range, and Value reads what the row writes.
func TestKeys(t *testing.T) {
	keys := Keys()
	if got, want := len(keys), len(schema)+len(subvolumeSchema)+len(targetSchema)+len(policySchema)+len(persistEntrySchema); got != want {
		t.Fatalf("Keys() has %d keys, want %d", got, want)
	}
	want := Key{Name: "archive.keep_days", Kind: "count", Max: MaxKeepDays}
	if i := slices.IndexFunc(keys, func(k Key) bool { return k.Name == want.Name }); i < 0 || keys[i] != want {
		t.Errorf("Keys() at %d, want %+v", i, want)
	}
	c := Default()
	for _, k := range keys {
		if k.Kind == "" {
			t.Errorf("key %s: no kind", k.Name)
		}
		if k.Table != "" {
			continue
		}
		if _, ok := c.Value(k.Name); !ok {
			t.Errorf("Value(%q): not found", k.Name)
		}
	}
	if v, _ := c.Value("snapshots.retention.min_age"); v != 30*time.Minute {
		t.Errorf(`Value("snapshots.retention.min_age") = %v, want 30m`, v)
	}
	sv, _ := c.Subvolume("@var-tmp")
	if v, _ := sv.Value("cow"); v != false {
		t.Errorf(`@var-tmp Value("cow") = %v, want false`, v)
	}
	want = Key{Table: "policy", Name: "retention.hourly", Kind: "count", Max: MaxCount}
	if i := slices.IndexFunc(keys, func(k Key) bool { return k.Table == want.Table && k.Name == want.Name }); i < 0 || keys[i] != want {
		t.Errorf("Keys() at %d, want %+v", i, want)
	}
	if v, ok := (Policy{Schedule: "*:0/15"}).Value("schedule"); !ok || v != "*:0/15" {
		t.Errorf(`Policy Value("schedule") = %v, %v; want *:0/15`, v, ok)
	}
	want = Key{Table: "target", Name: "retention.daily", Kind: "count", Max: MaxCount}
	if i := slices.IndexFunc(keys, func(k Key) bool { return k.Table == want.Table && k.Name == want.Name }); i < 0 || keys[i] != want {
		t.Errorf("Keys() at %d, want %+v", i, want)
	}
	tg := Target{Subvolumes: []string{"@persist"}}
	tg.Retention.Daily = 5
	if v, _ := tg.Value("retention.daily"); v != 5 {
		t.Errorf(`target Value("retention.daily") = %v, want 5`, v)
	}
	if v, _ := tg.Value("subvolumes"); !slices.Equal(v.([]string), []string{"@persist"}) {
		t.Errorf(`target Value("subvolumes") = %v`, v)
	}
	if _, ok := tg.Value("nope"); ok {
		t.Error(`target Value("nope"): found`)
	}
	if v, _ := c.Persist.Files[0].Value("path"); v != "/etc/machine-id" {
		t.Errorf(`persist.files[0] Value("path") = %v`, v)
	}
}
