package calendar

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// validateTests are checked against Validate and, when systemd-analyze is
// installed, against systemd itself, so the expectations cannot drift from
// the real thing. wantErr, when set, must appear in the error message.
var validateTests = []struct {
	expr    string
	valid   bool
	wantErr string
}{
	// Shorthands.
	{"minutely", true, ""},
	{"hourly", true, ""},
	{"daily", true, ""},
	{"weekly", true, ""},
	{"monthly", true, ""},
	{"yearly", true, ""},
	{"annually", true, ""},
	{"anually", true, ""},
	{"quarterly", true, ""},
	{"semiannually", true, ""},
	{"semi-annually", true, ""},
	{"bi-annually", true, ""},
	{"DAILY", true, ""},
	{"hourlyy", false, `calendar "hourlyy": unknown word "hourlyy"`},
	{"hourly ", false, `shorthand "hourly" must stand alone`},
	{" daily", false, `shorthand "daily" must stand alone`},
	{"Mon daily", false, `unknown word "daily"`},
	{"", false, "empty expression"},
	{"fortnightly", false, `unknown word "fortnightly"`},

	// Weekdays.
	{"Mon..Fri *-*-* 10:00", true, ""},
	{"Mon-Fri", true, ""},
	{"mOn..fRi", true, ""},
	{"Monday..Friday 08:00", true, ""},
	{"Sat,Sun", true, ""},
	{"Mon,", true, ""},
	{"Mon..Wed,Fri", true, ""},
	{"Mon..Sun", true, ""},
	{"Mon ", true, ""},
	{"Fri..Mon", false, "before it starts"},
	{"Mon..", false, "no end"},
	{"Mon-", false, "no end"},
	{"Mon..Wed..Fri", false, "more than two ends"},
	{"Mon.Fri", false, `needs ".."`},
	{"Mon,,Tue", false, `unexpected ","`},
	{"Mond", false, `unknown word "Mond"`},
	{"Mon Fri", false, `unknown word "Fri"`},
	{"Sat,Sun 20..25 12:00", false, `expected "-" (date) or ":" (time) after "20..25"`},

	// Dates.
	{"2026-11-25", true, ""},
	{"2026-11-25 ", true, ""},
	{"26-11-25", true, ""},
	{"0-01-01", true, ""},
	{"2199-12-31", true, ""},
	{"*-*-1/2", true, ""},
	{"*-02~03", true, ""},
	{"*-*~28", true, ""},
	{"*-*~5/2", true, ""},
	{"*-1..3/5", true, ""},
	{"*-*-1..3/500", true, ""},
	{"2020/2-01-01", true, ""},
	{"*-01,04,07,10-01", true, ""},
	{"*-02-30", true, ""},
	{"2020-01-01", true, ""},
	{"2026-13-01", false, "month 13 out of range 1..12"},
	{"*-13-01", false, `calendar "*-13-01": month 13 out of range 1..12`},
	{"*-*-32", false, "day 32 out of range 1..31"},
	{"*-*-0", false, "day 0 out of range 1..31"},
	{"1969-01-01", false, "year 1969 out of range 1970..2199"},
	{"2200-01-01", false, "year 2200 out of range"},
	{"100-01-01", false, "year 100 out of range"},
	{"*-*~29", false, "day ~29 out of range 1..28"},
	{"*-*~1/2", false, "steps past the last day"},
	{"*~5,6", true, ""},
	{"*~1,28", false, "day ~28 out of range 1..25 (systemd lowers the limit by 3"},
	{"12~1..25,28", false, "day ~28 out of range 1..25"},
	{"2026~02-03", false, `"~" may only separate the month from the day`},
	{"*-*-29~", false, `unexpected "~"`},
	{"*/2-01-01", false, `expected "-" (date) or ":" (time) after "*"`},
	{"2020/230-01-01", false, "year step /230 is longer"},
	{"*-*-5..3", false, "day range 5..3 ends before it starts"},
	{"*-*-1/0", false, "repetition /0"},
	{"*-*-2147483648", false, "too large"},
	{"2026-01-01T12:00", false, `unexpected "T"`},

	// Month steps that roll over into the next year (see checkMonthRollover).
	{"*-1/3-01", true, ""},
	{"*-1/6-*", true, ""},
	{"*-2/7,12-*", true, ""},
	{"*-2,9-*", true, ""},
	{"*-2/7-* UTC", true, ""},
	{"*-2/7-*", false, "step 2/7 lands on month 16"},
	{"*-2/7-* Europe/Berlin", false, "list the months instead (2,9)"},
	{"*-1/8-01 12:00", false, "step 1/8 lands on month 17"},
	{"*-2/6-*", false, "step 2/6 lands on month 14"},

	// Times.
	{"*:0/15", true, ""},
	{"*:0/59", true, ""},
	{"12:00", true, ""},
	{"*-*-*   12:00", true, ""},
	{"*-*-* *:*:*", true, ""},
	{"12:00:59.5", true, ""},
	{"12:00:59.9999994", true, ""},
	{"12:00:00/0.5", true, ""},
	{"00:00:00..59", true, ""},
	{"12:00:05..05/1", true, ""},
	{"*-*-* 25:00", false, "hour 25 out of range 0..23"},
	{"23:60", false, "minute 60 out of range 0..59"},
	{"12:00:60", false, "second 60 out of range 0..59.999999"},
	{"12:00:59.9999995", false, "second 60 out of range"},
	{"12:00:00.", false, `expected digits after "."`},
	{"12:00:05..05", false, "shorter than its implicit step"},
	{"*:0/60", false, "minute step /60 is longer than the range 0..59"},
	{"*:30/30", false, "minute 30/30 never repeats"},
	{"0..59/5", false, `expected ":" after hour "0..59/5"`},
	{"*", false, `expected ":" after hour "*"`},
	{"12", false, `expected ":" after hour "12"`},
	{"1.5:00", false, `unexpected "."`},
	{"*-*-* *:*:*.5", false, `unexpected "."`},
	{"12:00 ", false, `unexpected " "`},

	// Time zones.
	{"weekly UTC", true, ""},
	{"daily utc", true, ""},
	{"*-*-* 00:00:00 Europe/Berlin", true, ""},
	{"daily Etc/UTC", true, ""},
	{"Mon 12:00 America/New_York", true, ""},
	{"UTC", false, `unknown word "UTC"`},
	{" UTC", false, "nothing before the time zone"},
	{"daily  UTC", false, `shorthand "daily" must stand alone`},
	{"daily Europe", false, `unknown word "daily"`},
	{"daily Europe/Nowhere", false, `unknown word "daily"`},
	{"daily zone.tab", false, `unknown word "daily"`},
	{"daily leapseconds", false, `unknown word "daily"`},

	// Seconds since the epoch.
	{"@1700000000", true, ""},
	{"@0", true, ""},
	{"@7258118399", true, ""},
	{"@1700000000 UTC", true, ""},
	{"Mon @5", true, ""},
	{"@7258118400", false, "outside 1970-01-01..2199-12-31"},
	{"@-1", false, "outside"},
	{"@", false, `expected seconds`},
	{"@5x", false, `unexpected "x"`},
	{"@99999999999999999999", false, "too large"},
	{"@1700000000 12:00", false, `unexpected " 12:00"`},
}

func TestValidate(t *testing.T) {
	for _, tc := range validateTests {
		err := Validate(tc.expr)
		if (err == nil) != tc.valid {
			t.Errorf("Validate(%q) = %v, want valid=%v", tc.expr, err, tc.valid)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Validate(%q) = %q, want an error containing %q", tc.expr, err, tc.wantErr)
		}
	}
}

// TestValidateTableMatchesSystemd keeps the table honest.
func TestValidateTableMatchesSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze not installed")
	}
	for _, tc := range validateTests {
		want := tc.valid
		if errors.Is(Validate(tc.expr), errMonthRollover) {
			want = true // systemd's parser takes it; TestMonthRolloverFailsInSystemd shows the harm
		}
		if got := systemdAccepts(t, bin, tc.expr); got != want {
			t.Errorf("systemd-analyze calendar %q accepted = %v, want %v (the table is wrong)", tc.expr, got, want)
		}
	}
}

// TestMonthRolloverFailsInSystemd shows why Validate refuses month steps
// that roll over: in a zone with daylight saving time systemd parses them
// and then cannot compute when they elapse next.
func TestMonthRolloverFailsInSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze not installed")
	}
	for _, tc := range []struct {
		expr, tz    string
		elapseFails bool
	}{
		{"*-2/7-*", "Europe/Berlin", true},
		{"*-2/7-*", "America/New_York", true},
		{"*-1/8-01 12:00", "Europe/Berlin", true},
		{"*-2/7-* Europe/Berlin", "UTC", true},
		{"*-2/7-* UTC", "Europe/Berlin", false},
		{"*-2/7-*", "UTC", false},
		{"*-2,9-*", "Europe/Berlin", false},
		{"*-1/3-01", "Europe/Berlin", false},
		{"*-2/6-*", "Europe/Berlin", false}, // refused only to be safe
	} {
		v, err := askSystemd(bin, tc.tz, tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if !v.parsed || (v.elapseFailed != "") != tc.elapseFails {
			t.Errorf("TZ=%s systemd-analyze calendar %q = %+v, want parsed, next elapse failing = %v", tc.tz, tc.expr, v, tc.elapseFails)
		}
	}
}

func TestValidateListLimit(t *testing.T) {
	list := func(n int) string { return "*-*-" + strings.Repeat("1,", n-1) + "1" }
	for _, tc := range []struct {
		n     int
		valid bool
	}{{maxItems, true}, {maxItems + 1, false}} {
		if err := Validate(list(tc.n)); (err == nil) != tc.valid {
			t.Errorf("Validate(<%d-item list>) = %v, want valid=%v", tc.n, err, tc.valid)
		}
	}
}

// A NUL anywhere, the first byte included, is refused by name.
func TestValidateRejectsNUL(t *testing.T) {
	for _, expr := range []string{"daily\x00", "\x00daily", "\x00", "Mon\x00 10:00"} {
		want := fmt.Sprintf("calendar %q: contains a NUL byte", expr)
		if err := Validate(expr); err == nil || err.Error() != want {
			t.Errorf("Validate(%q) = %v, want %s", expr, err, want)
		}
	}
}

func TestValidatorZoneinfoDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/Test/Zone", "TZif2...")
	writeFile(t, dir+"/NotTZif", "# a table")
	v := Validator{ZoneinfoDir: dir}
	for _, tc := range []struct {
		expr  string
		valid bool
	}{
		{"daily Test/Zone", true},
		{"daily NotTZif", false},       // wrong magic
		{"daily Test", false},          // a directory
		{"daily Europe/Berlin", false}, // not in this database
		{"daily Test//Zone", false},    // "//" is refused before the lookup
		{"daily UTC", true},            // needs no file
		{"daily ../Test/Zone", false},  // "." is not allowed in names
		{"Mon..Fri 12:00 Test/Zone", true},
	} {
		if err := v.Validate(tc.expr); (err == nil) != tc.valid {
			t.Errorf("Validator{%s}.Validate(%q) = %v, want valid=%v", dir, tc.expr, err, tc.valid)
		}
	}
}

// In an initrd without tzdata the zone cannot be looked up: a plausible
// name is accepted so that the initrd never rejects what the host accepts.
func TestValidatorWithoutZoneinfo(t *testing.T) {
	v := Validator{ZoneinfoDir: t.TempDir() + "/absent"}
	for _, tc := range []struct {
		expr  string
		valid bool
	}{
		{"daily Europe/Berlin", true},
		{"daily Europe//Berlin", false},
		{"daily Europe/Ber.lin", false},
		{"hourlyy Europe/Berlin", false},
	} {
		if err := v.Validate(tc.expr); (err == nil) != tc.valid {
			t.Errorf("Validator{no zoneinfo}.Validate(%q) = %v, want valid=%v", tc.expr, err, tc.valid)
		}
	}
}
