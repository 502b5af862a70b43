package timespan

import (
	"math"
	"strings"
	"testing"
	"time"
)

const (
	day   = 24 * time.Hour
	month = 2629800 * time.Second
	year  = 31557600 * time.Second
)

// parseTests are checked against Parse and, when systemd-analyze is
// installed, against systemd itself. wantErr, when set, must appear in the
// error message.
var parseTests = []struct {
	in      string
	want    time.Duration
	wantErr string
}{
	{"30m", 30 * time.Minute, ""},
	{"1h 30min", 90 * time.Minute, ""},
	{"1h30min", 90 * time.Minute, ""},
	{"2d", 2 * day, ""},
	{"7d", 7 * day, ""},
	{"1w", 7 * day, ""},
	{"90s", 90 * time.Second, ""},
	{"1.5h", 90 * time.Minute, ""},
	{"500ms", 500 * time.Millisecond, ""},
	{"3 days", 3 * day, ""},
	{"2 h", 2 * time.Hour, ""},
	{"2hours", 2 * time.Hour, ""},
	{"48hr", 48 * time.Hour, ""},
	{"1y 12month", 2 * year, ""},
	{"1M", month, ""},
	{"1 months", month, ""},
	{"0.5M", month / 2, ""},
	{"55s500ms", 55500 * time.Millisecond, ""},
	{"300ms20s 5day", 5*day + 20300*time.Millisecond, ""},
	{"5", 5 * time.Second, ""},
	{"0", 0, ""},
	{"5 6", 11 * time.Second, ""},
	{".5", 500 * time.Millisecond, ""},
	{"12.34 .56", 12900 * time.Millisecond, ""},
	{"1.9999999999s", 1999999 * time.Microsecond, ""},
	{"1.5us", time.Microsecond, ""},
	{"5usec", 5 * time.Microsecond, ""},
	{"5us", 5 * time.Microsecond, ""},
	{"5µs", 5 * time.Microsecond, ""},
	{"5μs", 5 * time.Microsecond, ""},
	{"5msec", 5 * time.Millisecond, ""},
	{"5 seconds", 5 * time.Second, ""},
	{"5second", 5 * time.Second, ""},
	{"5sec", 5 * time.Second, ""},
	{"5minutes", 5 * time.Minute, ""},
	{"5minute", 5 * time.Minute, ""},
	{"5 hour", 5 * time.Hour, ""},
	{"1day", day, ""},
	{"2weeks", 14 * day, ""},
	{"1week", 7 * day, ""},
	{"1year", year, ""},
	{"2years", 2 * year, ""},
	{"1y", year, ""},
	{" 5s ", 5 * time.Second, ""},
	{"5\ts", 5 * time.Second, ""},
	{"+5", 5 * time.Second, ""},
	{"\v5", 5 * time.Second, ""},
	{"\v-0", 0, ""},
	{"0300", 300 * time.Second, ""},
	{"292y", 292 * year, ""},

	{"", 0, `timespan "": empty`},
	{"   ", 0, "empty"},
	{"-5s", 0, `timespan "-5s": negative`},
	{"-0", 0, "negative"},
	{"5s -1s", 0, "negative"},
	{"\v-5", 0, "negative"},
	{"5x", 0, `unknown unit "x"`},
	{"5mins", 0, `unknown unit "mins"`},
	{"5 secs", 0, `unknown unit "secs"`},
	{"5S", 0, `unknown unit "S"`},
	{"5H", 0, `unknown unit "H"`},
	{"5mo", 0, `unknown unit "mo"`},
	{"1.2.3", 0, `unexpected "." at ".3"`},
	{"3.", 0, `expected digits after "." in "3."`},
	{"3.s", 0, `expected digits after "."`},
	{"+.5", 0, `expected a number at "+.5"`},
	{"s", 0, `expected a number at "s"`},
	{"garbage", 0, `expected a number at "garbage"`},
	{"1h garbage", 0, `expected a number at "garbage"`},
	{"infinity", 0, "infinity is not a finite duration"},
	{" infinity ", 0, "infinity"},
	{"infinityx", 0, `unexpected "x" after infinity`},
	{"293y", 0, "longer than a time.Duration can hold"},
	{"9223372036854775807us", 0, "longer than a time.Duration"},
	{"9223372036854775808us", 0, "too large"},
	{"18446744073709551615", 0, "too large"},
	{"584542y", 0, "too large"},
	{"5s\x00", 0, "NUL"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, %v, want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestParseTableMatchesSystemd keeps the table honest.
func TestParseTableMatchesSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze not installed")
	}
	for _, tc := range parseTests {
		if strings.IndexByte(tc.in, 0) >= 0 {
			continue // cannot be passed in argv
		}
		compareWithSystemd(t, bin, tc.in)
	}
}

// TestStrtoll: the boundaries of C's strtoll, which Parse reaches only
// through a sign after a vertical tab or form feed (Parse's own whitespace
// does not skip them): -2^63 is a number, -2^63-1 and 2^63 overflow.
func TestStrtoll(t *testing.T) {
	for _, tc := range []struct {
		in       string
		v        int64
		end      int
		overflow bool
	}{
		{"-9223372036854775808", math.MinInt64, 20, false},
		{"-9223372036854775809", 0, 20, true},
		{"9223372036854775807", math.MaxInt64, 19, false},
		{"9223372036854775808", 0, 19, true},
		{"-1", -1, 2, false},
		{"\v\f+7x", 7, 4, false},
		{"-", 0, 0, false},
		{"x", 0, 0, false},
		{"99999999999999999999999", 0, 23, true},
	} {
		v, end, overflow := strtoll(tc.in, 0)
		if overflow != tc.overflow || end != tc.end || (!overflow && v != tc.v) {
			t.Errorf("strtoll(%q) = %d, %d, %t; want %d, %d, %t", tc.in, v, end, overflow, tc.v, tc.end, tc.overflow)
		}
	}
	if _, err := Parse("\v-9223372036854775808s"); err == nil || !strings.Contains(err.Error(), "negative time spans are not allowed") {
		t.Errorf(`Parse("\v-9223372036854775808s") = %v, want the negative span refused`, err)
	}
}
