package config

import (
	"slices"
	"testing"
	"time"
)

// TestKeys: Keys lists every row of the three tables with its kind and
// range, and Value reads what the row writes.
func TestKeys(t *testing.T) {
	keys := Keys()
	if got, want := len(keys), len(schema)+len(subvolumeSchema)+len(persistEntrySchema); got != want {
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
	if v, _ := c.Persist.Files[0].Value("path"); v != "/etc/machine-id" {
		t.Errorf(`persist.files[0] Value("path") = %v`, v)
	}
}
