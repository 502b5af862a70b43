package calendar

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// nextCases are expressions whose next elapses Next must compute as
// systemd does, from several base times (a second before, at and after an
// elapse, the end of a month, a leap day).
var nextCases = []string{
	"hourly", "daily", "weekly", "monthly", "yearly", "quarterly", "minutely",
	"*:0/15", "*:00/15:30", "Mon..Fri 02:00", "Sat,Sun *-*-* 04:30:15", "*-*-1,15 00:00",
	"*-02-29 03:00", "*-*~01 23:59", "*-*-* *:*:0/20", "2027-01-01 00:00:00", "*-*-* 12,18:00",
	"*:05 UTC", "daily Europe/Berlin",
}

var nextBases = []time.Time{
	time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 20, 11, 59, 59, 0, time.UTC),
	time.Date(2026, 12, 31, 23, 59, 30, 0, time.UTC),
	time.Date(2028, 2, 28, 23, 0, 0, 0, time.UTC),
	time.Date(2026, 12, 25, 2, 0, 1, 0, time.UTC),
}

// TestNextAgreesWithSystemd compares Next, three elapses in a row, with
// systemd-analyze calendar --base-time --iterations=3 in UTC.
func TestNextAgreesWithSystemd(t *testing.T) {
	bin := analyzeBinary()
	if bin == "" {
		t.Skip("systemd-analyze is not installed")
	}
	for _, expr := range nextCases {
		for _, base := range nextBases {
			want := systemdNext(t, bin, expr, base)
			var got []string
			at := base
			for range want {
				n, ok, err := Next(expr, at, time.UTC)
				if err != nil {
					t.Fatalf("Next(%q, %s): %v", expr, at, err)
				}
				if !ok {
					got = append(got, "none")
					break
				}
				got = append(got, n.UTC().Format("2006-01-02 15:04:05"))
				at = n
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("Next(%q) from %s = %v, want %v (systemd-analyze)", expr, base.Format(time.RFC3339), got, want)
			}
		}
	}
}

// systemdNext returns the next elapses systemd-analyze gives expr after
// base, in UTC.
func systemdNext(t *testing.T, bin, expr string, base time.Time) []string {
	t.Helper()
	cmd := exec.Command(bin, "--no-pager", "calendar", "--iterations=3",
		"--base-time="+base.Format("2006-01-02 15:04:05")+" UTC", "--", expr)
	cmd.Env = []string{"TZ=UTC", "LC_ALL=C", "SYSTEMD_COLORS=0", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze calendar %q: %v\n%s", expr, err, out)
	}
	var elapses []string
	for _, line := range strings.Split(string(out), "\n") {
		_, v, ok := strings.Cut(line, ": ")
		k := strings.TrimSpace(line[:max(0, strings.Index(line, ":"))])
		if !ok || (k != "Next elapse" && !strings.HasPrefix(k, "Iter. #")) {
			continue
		}
		// "Mon 2026-12-07 10:15:00 UTC"
		f := strings.Fields(v)
		if len(f) < 3 {
			continue
		}
		elapses = append(elapses, f[1]+" "+f[2])
	}
	if len(elapses) == 0 {
		elapses = []string{"none"}
	}
	return elapses
}

// TestNextInAZone: without a zone in the expression, loc decides the wall
// clock; the UTC suffix overrides loc.
func TestNextInAZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no zoneinfo:", err)
	}
	base := time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC) // 07:00 in New York
	for _, tc := range []struct {
		expr string
		want time.Time
	}{
		{"*-*-* 08:00", time.Date(2026, 12, 20, 13, 0, 0, 0, time.UTC)},
		{"*-*-* 08:00 UTC", time.Date(2026, 12, 21, 8, 0, 0, 0, time.UTC)},
		{"daily", time.Date(2026, 12, 21, 5, 0, 0, 0, time.UTC)},
	} {
		got, ok, err := Next(tc.expr, base, ny)
		if err != nil || !ok || !got.Equal(tc.want) {
			t.Errorf("Next(%q, %s, New York) = %s, %t, %v, want %s", tc.expr, base, got.UTC(), ok, err, tc.want)
		}
	}
}

// TestNextEpochAndInvalid: "@N" elapses once; an invalid expression is
// Validate's error.
func TestNextEpochAndInvalid(t *testing.T) {
	at := time.Unix(1800000000, 0)
	if got, ok, err := Next("@1800000000", at.Add(-time.Second), time.UTC); err != nil || !ok || !got.Equal(at) {
		t.Errorf("Next(@1800000000) before it = %s, %t, %v, want %s", got, ok, err, at)
	}
	if _, ok, err := Next("@1800000000", at, time.UTC); err != nil || ok {
		t.Errorf("Next(@1800000000) at it = %t, %v, want no elapse", ok, err)
	}
	if _, _, err := Next("every tuesday", at, time.UTC); err == nil {
		t.Error("Next(every tuesday) accepted an invalid expression")
	}
}
