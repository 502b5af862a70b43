package calendar

import (
	"slices"
	"testing"
	"time"
)

// The boundaries of the helpers below the expressions, each against an
// independent answer (make mutation found them untested).

// TestFixYears: two-digit years 0..69 are 2000..2069, 70..99 are
// 1970..1999 (systemd's rule), in both ends of a range; others stay.
func TestFixYears(t *testing.T) {
	l := []item{{0, -1, 0}, {69, -1, 0}, {70, 99, 0}, {100, -1, 0}, {2026, 2030, 2}}
	fixYears(l)
	want := []item{{2000, -1, 0}, {2069, -1, 0}, {1970, 1999, 0}, {100, -1, 0}, {2026, 2030, 2}}
	if !slices.Equal(l, want) {
		t.Errorf("fixYears = %v, want %v", l, want)
	}
}

// TestDaysFromCivil against the time package's proleptic Gregorian
// calendar: January and February (counted with the previous year), the
// days around a 400-year era, negative years.
func TestDaysFromCivil(t *testing.T) {
	for _, y := range []int64{-401, -400, -399, -1, 0, 1, 1969, 1970, 2000, 2024, 2100, 2199} {
		for _, md := range [][2]int64{{1, 1}, {2, 28}, {2, 29}, {3, 1}, {12, 31}} {
			want := time.Date(int(y), time.Month(md[0]), int(md[1]), 0, 0, 0, 0, time.UTC).Unix() / 86400
			if md[1] == 29 && monthLength(y, 2) != 29 {
				continue
			}
			if got := daysFromCivil(y, md[0], md[1]); got != want {
				t.Errorf("daysFromCivil(%d, %d, %d) = %d, want %d", y, md[0], md[1], got, want)
			}
		}
	}
}

// TestEndOfMonthRange: "~1..3" is the last three days of each month,
// whatever its length; a step counts back from the last day.
func TestEndOfMonthRange(t *testing.T) {
	for _, tc := range []struct {
		expr        string
		year, month int64
		want        []int64
	}{
		{"*-*~1..3", 2027, 1, []int64{29, 30, 31}},
		{"*-*~01..03", 2027, 2, []int64{26, 27, 28}},
		{"*-*~1..3", 2028, 2, []int64{27, 28, 29}},
		{"*-*~1..3", 2027, 4, []int64{28, 29, 30}},
		{"*-*~07/2", 2027, 1, []int64{25, 27, 29, 31}},
		{"*-*~1", 2027, 6, []int64{30}},
	} {
		sp, err := Validator{}.spec(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		length := monthLength(tc.year, tc.month)
		var got []int64
		for d := int64(1); d <= length; d++ {
			if matchesDay(sp, tc.year, tc.month, d, length, daysFromCivil(tc.year, tc.month, d)) {
				got = append(got, d)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s in %d-%02d: days %v, want %v", tc.expr, tc.year, tc.month, got, tc.want)
		}
	}
}

// TestEpochWhitespace: "@seconds" reads the number as strtoul does, after
// white space.
func TestEpochWhitespace(t *testing.T) {
	for _, expr := range []string{"@1700000000", "@ 1700000000", "@\t 1700000000"} {
		sp, err := Validator{}.spec(expr)
		if err != nil || !sp.epoch {
			t.Errorf("%q: %+v, %v; want one instant", expr, sp, err)
		}
	}
}
