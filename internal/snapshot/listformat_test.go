package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"text/tabwriter"
	"time"
)

// formatEntries are entries of every shape the list prints: kinds, labels,
// expiries, writable, problems, names of other widths and of several bytes
// per character, an age in the future and under a minute.
func formatEntries(now time.Time) []Entry {
	t := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	return []Entry{
		{Subvolume: "@nix", Name: "20261101T100000Z", Path: "@snapshots/@nix/20261101T100000Z", ID: 300, Time: t, OTime: t, Kind: KindTimeline, ReadOnly: true},
		{Subvolume: "@persist", Name: "20261101T100000Z-before-upgrade", Path: "@snapshots/@persist/20261101T100000Z-before-upgrade", ID: 301,
			Time: t, OTime: t, Kind: KindManual, Label: "before-upgrade", Expires: t.Add(30 * 24 * time.Hour), ReadOnly: true},
		{Subvolume: "@var-lib-services", Name: "20261206T235930Z", Path: "@snapshots/@var-lib-services/20261206T235930Z", ID: 302,
			Time: now.Add(-30 * time.Second), OTime: now, Kind: KindTimeline, ReadOnly: false, Problems: []string{"writable: a snapshot must be read-only"}},
		{Subvolume: "@var-log", Name: "20271101T100000Z", Path: "@snapshots/@var-log/20271101T100000Z", ID: 303, Time: t.AddDate(1, 0, 0), OTime: t, Kind: KindTimeline, ReadOnly: true,
			Problems: []string{"created 2026-11-01T10:00:00Z, not at the time in its name (a clock was wrong); retention uses the name", "second"}},
		{Subvolume: "", Name: "stray", Path: "@snapshots/stray", ID: 304, OTime: t.Add(-400 * 24 * time.Hour), Kind: KindUnknown, ReadOnly: true},
		{Subvolume: "@données", Name: "café-été", Path: "@snapshots/@données/café-été", ID: 305, OTime: t, Kind: KindUnknown, ReadOnly: true},
	}
}

// PrintList lays the table out as text/tabwriter did (minimum width 0, tab
// width 4, padding 2, spaces), byte for byte.
func TestPrintListAsTabwriter(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	all := formatEntries(now)
	for _, entries := range [][]Entry{nil, all[:1], all[4:5], all} {
		var want bytes.Buffer
		tw := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBVOLUME\tSNAPSHOT\tAGE\tKIND\tLABEL\tRO\tEXPIRES")
		for _, e := range entries {
			exp := "-"
			if !e.Expires.IsZero() {
				exp = e.Expires.Format(time.RFC3339)
			}
			ro := "yes"
			if !e.ReadOnly {
				ro = "NO"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(e.Subvolume), e.Name, Age(e, now), e.Kind, dash(e.Label), ro, exp)
		}
		tw.Flush()
		for _, e := range entries {
			for _, p := range e.Problems {
				fmt.Fprintf(&want, "warning: %s: %s\n", e.Path, p)
			}
		}
		var got bytes.Buffer
		PrintList(&got, entries, now)
		if got.String() != want.String() {
			t.Errorf("PrintList of %d entries:\n%s\nwant (tabwriter):\n%s", len(entries), got.String(), want.String())
		}
	}
	// The whole table, pinned.
	want := `SUBVOLUME          SNAPSHOT                         AGE              KIND      LABEL           RO   EXPIRES
@nix               20261101T100000Z                 1month5d3h30min  timeline  -               yes  -
@persist           20261101T100000Z-before-upgrade  1month5d3h30min  manual    before-upgrade  yes  2026-12-01T10:00:00Z
@var-lib-services  20261206T235930Z                 <1min            timeline  -               NO   -
@var-log           20271101T100000Z                 in the future    timeline  -               yes  -
-                  stray                            1y2month1w2d11h  unknown   -               yes  -
@données           café-été                         1month5d3h30min  unknown   -               yes  -
warning: @snapshots/@var-lib-services/20261206T235930Z: writable: a snapshot must be read-only
warning: @snapshots/@var-log/20271101T100000Z: created 2026-11-01T10:00:00Z, not at the time in its name (a clock was wrong); retention uses the name
warning: @snapshots/@var-log/20271101T100000Z: second
`
	var got bytes.Buffer
	PrintList(&got, all, now)
	if got.String() != want {
		t.Errorf("PrintList:\n%s\nwant:\n%s", got.String(), want)
	}
}

// writeJSON writes what a json.Encoder indenting by two spaces writes for the
// whole slice, byte for byte.
func TestWriteJSONAsEncoder(t *testing.T) {
	all := formatEntries(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	for _, entries := range [][]Entry{{}, all[:1], all} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		writeJSON(&got, entries)
		if got.String() != want.String() {
			t.Errorf("writeJSON of %d entries:\n%s\nwant (json.Encoder):\n%s", len(entries), got.String(), want.String())
		}
	}
}
