package calendar

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const day = 24 * time.Hour

// base is the "from" of the interval tests and the systemd-analyze runs.
var base = time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)

func TestMaxInterval(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want time.Duration
	}{
		{"minutely", time.Minute},
		{"hourly", time.Hour},
		{"daily", day},
		{"weekly", 7 * day},
		{"monthly", 31 * day},                                 // Jan..Feb, Jul..Aug, Dec..Jan
		{"quarterly", 92 * day},                               // Jul..Oct, Oct..Jan
		{"semiannually", 184 * day},                           // Jul..Jan
		{"yearly", 366 * day},                                 // across a Feb 29
		{"*:0/15", 15 * time.Minute},                          // the snapshot schedule's example
		{"Mon..Fri 02:00", 3 * day},                           // Friday to Monday
		{"Sat,Sun 03:30", 6 * day},                            // Sunday to Saturday
		{"Mon-Wed,Fri 00:00 UTC", 3 * day},                    // "-" is a range too
		{"*-*-* 0,12:00", 12 * time.Hour},                     //
		{"1,6,11,16,21:00", 5 * time.Hour},                    // 21:00..01:00 is only 4 h
		{"*-*-* 08..17:00/20", 14*time.Hour + 20*time.Minute}, // 17:40 to 08:00
		{"*-02-29", (366 + 365*7) * day},                      // 2096..2104: 2100 is not a leap year
		{"*-*~01", 31 * day},                                  // last day of the month: Feb 28/29 to Mar 31
		{"*-02~03", 366 * day},                                // third last day of February
		{"Mon *-*-1..7 09:00", 35 * day},                      // first Monday: five weeks at most
		{"Mon *-05~07/1", 371 * day},                          // last Monday of May
		{"*-*-31", 61 * day},                                  // Mar 31 .. May 31, and so on
		{"2027..2030-06-15 12:00", 366 * day},                 // a year list, across Feb 29 2028
		{"2026..2040/4-01-01", 1461 * day},                    // every 4 years
		{"*:*:0/0.25", 250 * time.Millisecond},                // fractions of a second
		{"*:*:0,0.000001", time.Minute - time.Microsecond},
		{"*:*:0..59.999999/0.000001", time.Microsecond}, // every µs: the bitmap
		{"Fri *-02-29 12:00", 10227 * day},              // 28 years (12 across 2100)
	} {
		got, err := MaxInterval(tc.expr, base)
		if err != nil || got != tc.want {
			t.Errorf("MaxInterval(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}

func TestMaxIntervalNone(t *testing.T) {
	for _, expr := range []string{"@1700000000", "2020-01-01", "*-02-30", "2027-01-01 12:00", "2030-02-29"} {
		if d, err := MaxInterval(expr, base); !errors.Is(err, ErrNoInterval) {
			t.Errorf("MaxInterval(%q) = %v, %v; want ErrNoInterval", expr, d, err)
		}
	}
	if _, err := MaxInterval("Mon..", base); err == nil || errors.Is(err, ErrNoInterval) {
		t.Errorf("MaxInterval of an invalid expression: %v, want the validation error", err)
	}
}

// elapses lists the first n elapses of sp after from, built from the same
// day and time-of-day matching as maxGap (whole seconds only).
func elapses(t *testing.T, sp *spec, from time.Time, n int) []time.Time {
	t.Helper()
	var tod []time.Duration
	for h := range 24 {
		for m := range 60 {
			for s := range 60 {
				if matches(sp.hour, int64(h)) && matches(sp.minute, int64(m)) && matches(sp.second, int64(s)*usecPerSec) {
					tod = append(tod, time.Duration(h)*time.Hour+time.Duration(m)*time.Minute+time.Duration(s)*time.Second)
				}
			}
		}
	}
	var out []time.Time
	days(sp, from, func(d int64) bool {
		for _, o := range tod {
			if e := time.Unix(d*86400, 0).UTC().Add(o); e.After(from) && len(out) < n {
				out = append(out, e)
			}
		}
		return len(out) < n
	})
	return out
}

var iterRE = regexp.MustCompile(`(?m)^\s+(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$`)

// TestElapsesMatchSystemd compares the elapses the interval is computed
// from with systemd-analyze calendar --iterations, in UTC.
func TestElapsesMatchSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze not installed")
	}
	const n = 120
	for _, expr := range []string{
		"Mon..Fri 02:00", "*:0/15", "Sat,Sun 03:30", "weekly", "monthly", "quarterly", "semiannually", "yearly",
		"*-02-29", "*-*~01", "*-02~03", "Mon *-05~07/1", "*-*~1..7/2", "*-*~5..9", "Mon *-*-1..7 09:00",
		"*-*-31", "2027..2030-06-15 12:00", "2026..2040/4-01-01", "Tue,Thu *-*-10..20/3 4/7:05,35:10",
		"*-1/5-* 23:59:59", "Fri *-02-29 12:00", "*-*-* 08..17:00/20",
	} {
		cmd := exec.Command(bin, "--no-pager", "calendar", "--base-time="+baseTime, "--iterations="+strconv.Itoa(n), "--", expr+" UTC")
		cmd.Env = []string{"TZ=UTC", "LC_ALL=C", "SYSTEMD_COLORS=0", "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze calendar %q: %v\n%s", expr, err, out)
		}
		var want []time.Time
		for _, m := range iterRE.FindAllStringSubmatch(string(out), -1) {
			e, err := time.Parse(time.DateTime, m[1])
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
		}
		sp, err := Validator{}.spec(expr + " UTC")
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		got := elapses(t, sp, base, n)
		if diff := cmp.Diff(want, got); diff != "" || len(want) == 0 {
			t.Errorf("elapses of %q differ from systemd's (-systemd +ours):\n%s", expr, diff)
		}
	}
}

func BenchmarkMaxInterval(b *testing.B) {
	for range b.N {
		MaxInterval("Mon..Fri 02:00", base)
	}
}
