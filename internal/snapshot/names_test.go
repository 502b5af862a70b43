package snapshot

import (
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	ts := time.Date(2024, 2, 29, 13, 4, 5, 999, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		label, want string
	}{
		{"", "20240229T120405Z"},
		{"before-upgrade", "20240229T120405Z-before-upgrade"},
	} {
		got := Name(ts, tc.label)
		if got != tc.want {
			t.Errorf("Name(%v, %q) = %q, want %q", ts, tc.label, got, tc.want)
		}
		pt, pl, ok := ParseName(got)
		if !ok || !pt.Equal(ts.Truncate(time.Second)) || pl != tc.label {
			t.Errorf("ParseName(%q) = %v, %q, %v", got, pt, pl, ok)
		}
	}
	for _, bad := range []string{"", "x", "20240229T120405", "20240229T120405Z-", "20240229T120405Z-a/b", "20241329T120405Z", "20240229T120405Z--x"} {
		if _, _, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%q) ok, want not ours", bad)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "é"} {
		if CheckLabel(bad) == nil {
			t.Errorf("CheckLabel(%q) = nil, want an error", bad)
		}
	}
	if got := MetaPath("/top/@snapshots/@nix/20240229T120405Z-x"); got != "/top/@snapshots/@nix/.20240229T120405Z-x.json" {
		t.Errorf("MetaPath = %q", got)
	}
}
