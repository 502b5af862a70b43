package names_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/names/namestest"
)

// parsed is what every parser makes of a name, in the shape of a Case.
func parsed(name string) namestest.Case {
	c := namestest.Case{Name: name}
	if t, label, ok := names.ParseSnapshot(name); ok {
		c.Snapshot, c.Label, c.Time = true, label, t
	}
	if t, boot, n, ok := names.ParseArchive(name); ok {
		c.Archive, c.BootID, c.N, c.Time = true, boot, n, t
	}
	if t, n, ok := names.ParseReplaced(name); ok {
		c.Replaced, c.N, c.Time = true, n, t
	}
	if blank, t, ok := names.ParseBlankHistory(name); ok {
		c.Blank, c.Time = blank, t
	}
	return c
}

func TestParse(t *testing.T) {
	seen := map[string]bool{}
	for _, want := range namestest.Cases {
		if seen[want.Name] {
			t.Errorf("%q twice in the table", want.Name)
		}
		seen[want.Name] = true
		if diff := cmp.Diff(want, parsed(want.Name)); diff != "" {
			t.Errorf("parse %q (-want +got):\n%s", want.Name, diff)
		}
	}
}

// TestFormat: every name the table accepts is what the writers make of its
// parts.
func TestFormat(t *testing.T) {
	for _, c := range namestest.Cases {
		if c.Snapshot {
			if got := names.Snapshot(c.Time, c.Label); got != c.Name {
				t.Errorf("Snapshot(%v, %q) = %q, want %q", c.Time, c.Label, got, c.Name)
			}
		}
		if c.Archive {
			if got := names.Archive(c.Time, c.BootID, c.N); got != c.Name {
				t.Errorf("Archive(%v, %q, %d) = %q, want %q", c.Time, c.BootID, c.N, got, c.Name)
			}
		}
		if c.Replaced {
			if got := names.Replaced(c.Time, c.N); got != c.Name {
				t.Errorf("Replaced(%v, %d) = %q, want %q", c.Time, c.N, got, c.Name)
			}
		}
		if c.Blank != "" {
			if got := names.BlankHistory(c.Blank, c.Time); got != c.Name {
				t.Errorf("BlankHistory(%q, %v) = %q, want %q", c.Blank, c.Time, got, c.Name)
			}
		}
	}
}

func TestWriters(t *testing.T) {
	// Any zone and sub-second part: the name is the UTC second.
	at := time.Date(2024, 2, 29, 13, 4, 5, 999, time.FixedZone("X", 3600))
	taken := map[string]bool{}
	free := func(f func(int) string) string {
		s := names.Free(f, func(s string) bool { return taken[s] })
		taken[s] = true
		return s
	}
	var got []string
	for range 3 {
		got = append(got, free(func(n int) string { return names.Archive(at, "0123abcd", n) }))
	}
	for range 2 {
		got = append(got, free(func(n int) string { return names.Replaced(at, n) }))
	}
	for range 2 {
		got = append(got, free(func(n int) string { return names.Aside("@persist/etc/x", at, n) }))
	}
	got = append(got, names.Snapshot(at, ""), names.Snapshot(at, names.PreRestoreLabel), names.Sidecar(names.Snapshot(at, "x")),
		names.BlankHistory("@root-blank", at), "@root"+names.NewSuffix, "@persist"+names.ProvisioningSuffix, "@srv"+names.RestoreSuffix)
	want := []string{
		"20240229T120405Z-0123abcd", "20240229T120405Z-0123abcd-2", "20240229T120405Z-0123abcd-3",
		"20240229T120405Z-replaced", "20240229T120405Z-replaced-2",
		"@persist/etc/x.pre-restore-20240229T120405Z", "@persist/etc/x.pre-restore-20240229T120405Z-2",
		"20240229T120405Z", "20240229T120405Z-pre-restore", ".20240229T120405Z-x.json",
		"@root-blank.20240229T120405Z", "@root.new", "@persist.provisioning", "@srv.restore",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestBootID(t *testing.T) {
	for in, want := range map[string]string{
		"0123ABCD-ef01-2345-6789-abcdef012345\n": "0123abcd",
		"01-23abcdef":                            "0123abcd",
		"0123abcd":                               "0123abcd",
		"0123abc":                                "",
		"0123abcx-0000":                          "",
		"":                                       "",
	} {
		got, ok := names.BootID(in)
		if got != want || ok != (want != "") {
			t.Errorf("BootID(%q) = %q, %t, want %q", in, got, ok, want)
		}
	}
}

func TestCheckLabel(t *testing.T) {
	for label, want := range map[string]string{
		"before-upgrade":        "",
		strings.Repeat("a", 64): "",
		strings.Repeat("a", 65): `invalid label "` + strings.Repeat("a", 65) + `": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
		"":                      `invalid label "": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
		"-x":                    `invalid label "-x": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
		"a b":                   `invalid label "a b": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
		"a/b":                   `invalid label "a/b": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
		"é":                     `invalid label "é": use 1 to 64 letters, digits, '_', '.', '+' or '-', starting with a letter or digit`,
	} {
		got := ""
		if err := names.CheckLabel(label); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckLabel(%q) = %q, want %q", label, got, want)
		}
	}
}

// FuzzParse: whatever a parser accepts, the matching writer formats back to
// the same string, so every name has one spelling and no reader counts
// what no writer makes.
func FuzzParse(f *testing.F) {
	for _, c := range namestest.Cases {
		f.Add(c.Name)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, ok := names.ParseTime(s); ok && names.Time(tm) != s {
			t.Errorf("ParseTime(%q) = %v, formats as %q", s, tm, names.Time(tm))
		}
		if tm, label, ok := names.ParseSnapshot(s); ok {
			if got := names.Snapshot(tm, label); got != s {
				t.Errorf("ParseSnapshot(%q) = %v, %q, formats as %q", s, tm, label, got)
			}
			if label != "" && names.CheckLabel(label) != nil {
				t.Errorf("ParseSnapshot(%q) accepted label %q, which CheckLabel refuses", s, label)
			}
		}
		if tm, boot, n, ok := names.ParseArchive(s); ok {
			if got := names.Archive(tm, boot, n); got != s {
				t.Errorf("ParseArchive(%q) = %v, %q, %d, formats as %q", s, tm, boot, n, got)
			}
		}
		if tm, n, ok := names.ParseReplaced(s); ok {
			if got := names.Replaced(tm, n); got != s {
				t.Errorf("ParseReplaced(%q) = %v, %d, formats as %q", s, tm, n, got)
			}
		}
		if blank, tm, ok := names.ParseBlankHistory(s); ok {
			if got := names.BlankHistory(blank, tm); got != s {
				t.Errorf("ParseBlankHistory(%q) = %q, %v, formats as %q", s, blank, tm, got)
			}
		}
	})
}

// TestArchiveName: the rollback's archive names (moved from its tests).
func TestArchiveName(t *testing.T) {
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.FixedZone("CET", 3600))
	taken := map[string]bool{"20261125T194023Z-0123abcd": true, "20261125T194023Z-0123abcd-2": true}
	if got := names.Free(func(n int) string { return names.Archive(now, "0123abcd", n) }, func(n string) bool { return taken[n] }); got != "20261125T194023Z-0123abcd-3" {
		t.Errorf("ArchiveName = %q, want the -3 suffix", got)
	}
	for name, ok := range map[string]bool{"20261125T194023Z-0123abcd": true, "20261125T194023Z-0123abcd-12": true,
		"20261125T194023Z-0123abcd-1": false, "20261125T194023Z": false, "x": false, "20261325T194023Z-0123abcd": false} {
		if _, _, _, got := names.ParseArchive(name); got != ok {
			t.Errorf("ParseArchiveName(%q) ok = %t, want %t", name, got, ok)
		}
	}
}

// TestSnapshotNames: the snapshot names of impermanence-snapshot (moved from
// its tests).
func TestSnapshotNames(t *testing.T) {
	ts := time.Date(2024, 2, 29, 13, 4, 5, 999, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		label, want string
	}{
		{"", "20240229T120405Z"},
		{"before-upgrade", "20240229T120405Z-before-upgrade"},
	} {
		got := names.Snapshot(ts, tc.label)
		if got != tc.want {
			t.Errorf("Name(%v, %q) = %q, want %q", ts, tc.label, got, tc.want)
		}
		pt, pl, ok := names.ParseSnapshot(got)
		if !ok || !pt.Equal(ts.Truncate(time.Second)) || pl != tc.label {
			t.Errorf("ParseName(%q) = %v, %q, %v", got, pt, pl, ok)
		}
	}
	for _, bad := range []string{"", "x", "20240229T120405", "20240229T120405Z-", "20240229T120405Z-a/b", "20241329T120405Z", "20240229T120405Z--x"} {
		if _, _, ok := names.ParseSnapshot(bad); ok {
			t.Errorf("ParseName(%q) ok, want not ours", bad)
		}
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "é"} {
		if names.CheckLabel(bad) == nil {
			t.Errorf("CheckLabel(%q) = nil, want an error", bad)
		}
	}
}

// TestExporterNames: what the exporter used to test of its own parsers, now
// the shared ones; "-02" is still refused, and so now is "-1".
func TestExporterNames(t *testing.T) {
	for _, tc := range []struct {
		in    string
		label string
		ok    bool
	}{
		{"20260101T000000Z", "", true},
		{"20260101T000000Z-pre-upgrade", "pre-upgrade", true},
		{"20260101T000000Z-", "", false},
		{"20260101T000000Zx", "", false},
		{"20261301T000000Z", "", false},
		{"lost+found", "", false},
	} {
		_, label, ok := names.ParseSnapshot(tc.in)
		if ok != tc.ok || label != tc.label {
			t.Errorf("ParseSnapshotName(%q) = %q, %v, want %q, %v", tc.in, label, ok, tc.label, tc.ok)
		}
	}
	for in, want := range map[string]bool{
		"20260101T000000Z-1a2b3c4d": true, "20260101T000000Z-1a2b3c4d-2": true, "20260101T000000Z-1a2b3c4d-02": false,
		"20260101T000000Z-1A2B3C4D": false, "20260101T000000Z": false, "20260101T000000Z-1a2b3c4d-x": false,
		"20260101T000000Z-1a2b3c4d-1": false,
	} {
		if _, _, _, ok := names.ParseArchive(in); ok != want {
			t.Errorf("ParseArchiveName(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

// ParseTime accepts exactly the strings time.Parse accepts with TimeLayout
// and Time formats back the same, and gives the same time: every month, day,
// hour, minute and second at and beyond its bounds, in leap and common years.
func TestParseTimeAgreesWithLayout(t *testing.T) {
	n := 0
	for _, year := range []string{"0000", "1900", "1970", "2000", "2024", "2026", "9999"} {
		for month := range 14 {
			for day := range 33 {
				for _, hms := range []string{"000000", "235959", "240000", "006000", "000060", "000061", "120000"} {
					s := fmt.Sprintf("%s%02d%02dT%sZ", year, month, day, hms)
					want, err := time.Parse(names.TimeLayout, s)
					wantOK := err == nil && names.Time(want) == s
					got, ok := names.ParseTime(s)
					if ok != wantOK || ok && !got.Equal(want) {
						t.Errorf("ParseTime(%q) = %v, %t; want %v, %t", s, got, ok, want, wantOK)
					}
					n++
				}
			}
		}
	}
	if n != 7*14*33*7 {
		t.Fatalf("checked %d strings", n)
	}
}
