package timespan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

var formatTests = []struct {
	in   time.Duration
	want string
}{
	{0, "0"},
	{time.Microsecond, "1us"},
	{999 * time.Microsecond, "999us"},
	{time.Millisecond, "1ms"},
	{1500 * time.Microsecond, "1.500ms"},
	{1001 * time.Microsecond, "1.001ms"},
	{time.Second, "1s"},
	{1500 * time.Millisecond, "1.500000s"},
	{59999999 * time.Microsecond, "59.999999s"},
	{time.Minute, "1min"},
	{61500 * time.Millisecond, "1min 1.500000s"},
	{90 * time.Second, "1min 30s"},
	{30 * time.Minute, "30min"},
	{90 * time.Minute, "1h 30min"},
	{2 * day, "2d"},
	{7 * day, "1w"},
	{30 * day, "4w 2d"},
	{31 * day, "1month 13h 30min"},
	{month, "1month"},
	{year, "1y"},
	{2*year + 3*time.Microsecond, "2y 3us"},
	{5*day + 20300*time.Millisecond, "5d 20.300000s"},
	{math.MaxInt64, "292y 3month 1w 16h 17min 16.854775s"},
	{-90 * time.Minute, "-1h 30min"},
	{500 * time.Nanosecond, "0"},
	{1500 * time.Nanosecond, "1us"},
}

func TestFormat(t *testing.T) {
	for _, tc := range formatTests {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFormatMatchesSystemd compares Format with the "Human:" line of
// `systemd-analyze timespan`.
func TestFormatMatchesSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze not installed")
	}
	durations := []time.Duration{}
	for _, tc := range formatTests {
		if tc.in >= 0 {
			durations = append(durations, tc.in)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		// Spread over all magnitudes, from µs to centuries.
		durations = append(durations, time.Duration(r.Int64N(1<<r.IntN(63))))
	}
	for _, d := range durations {
		usec := d / time.Microsecond
		want, err := askSystemd(bin, fmt.Sprintf("%dus", usec))
		if err != nil {
			t.Fatal(err)
		}
		if got := Format(d); got != want.human {
			t.Errorf("Format(%v) = %q, want %q as systemd says", d, got, want.human)
		}
	}
}

// TestFormatParseRoundTrip: Parse reads back what Format writes, to the µs.
func TestFormatParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		d := time.Duration(r.Int64N(1 << r.IntN(63))).Truncate(time.Microsecond)
		s := Format(d)
		if got, err := Parse(s); err != nil || got != d {
			t.Errorf("Parse(Format(%v) = %q) = %v, %v, want %v", d, s, got, err, d)
		}
	}
}
