package calendar

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// analyzeBinary returns the path of systemd-analyze, or "" when it is not
// installed (the comparisons with systemd are then skipped).
func analyzeBinary() string {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return ""
	}
	return bin
}

// baseTime is the "now" of every systemd-analyze run, so that results do
// not depend on the day the tests run. December makes month steps roll
// over into the next year (see checkMonthRollover).
const baseTime = "2026-12-20 12:00 UTC"

// verdict is what systemd-analyze said about an expression.
type verdict struct {
	parsed       bool   // calendar_spec_from_string() accepted it
	elapseFailed string // non-empty: parsed, but computing the next elapse failed
}

// askSystemd runs `systemd-analyze calendar` on expr in time zone tz, in
// the C locale. The tests use UTC so that the local zone's abbreviations,
// which Validate does not know (see the package doc), cannot matter.
func askSystemd(bin, tz, expr string) (verdict, error) {
	cmd := exec.Command(bin, "--no-pager", "calendar", "--base-time="+baseTime, "--", expr)
	cmd.Env = []string{"TZ=" + tz, "LC_ALL=C", "SYSTEMD_COLORS=0", "PATH=" + os.Getenv("PATH")}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return verdict{parsed: true}, nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return verdict{}, fmt.Errorf("systemd-analyze calendar %q: %v\n%s", expr, err, stderr.String())
	}
	switch msg := stderr.String(); {
	case strings.Contains(msg, "Failed to parse calendar specification"):
		return verdict{}, nil
	case strings.Contains(msg, "Failed to determine next elapse"):
		return verdict{parsed: true, elapseFailed: strings.TrimSpace(msg)}, nil
	default:
		return verdict{}, fmt.Errorf("systemd-analyze calendar %q failed for an unknown reason:\n%s", expr, msg)
	}
}

// systemdAccepts reports whether systemd's parser accepts expr (in UTC),
// failing tb if systemd-analyze cannot tell.
func systemdAccepts(tb testing.TB, bin, expr string) bool {
	tb.Helper()
	v, err := askSystemd(bin, "UTC", expr)
	if err != nil {
		tb.Fatal(err)
	}
	return v.parsed
}

// disagreement describes how Validate's answer err differs from systemd's
// verdict v, or returns "" when they agree. Validate may refuse a month
// step that rolls over (errMonthRollover) although systemd parses it; it
// must refuse anything whose next elapse systemd cannot compute.
func disagreement(expr string, err error, v verdict) string {
	switch {
	case errors.Is(err, errMonthRollover):
		return ""
	case err == nil && !v.parsed:
		return fmt.Sprintf("Validate(%q) = nil, want an error: systemd rejects it", expr)
	case err == nil && v.elapseFailed != "":
		return fmt.Sprintf("Validate(%q) = nil, want an error: systemd parses it but then fails: %s", expr, v.elapseFailed)
	case err != nil && v.parsed:
		return fmt.Sprintf("Validate(%q) = %v, want nil: systemd accepts it", expr, err)
	}
	return ""
}

// compareWithSystemd fails tb when Validate and systemd-analyze disagree
// about expr.
func compareWithSystemd(tb testing.TB, bin, expr string) {
	tb.Helper()
	v, err := askSystemd(bin, "UTC", expr)
	if err != nil {
		tb.Fatal(err)
	}
	if d := disagreement(expr, Validate(expr), v); d != "" {
		tb.Error(d)
	}
}
