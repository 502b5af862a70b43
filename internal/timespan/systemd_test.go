package timespan

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
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

// systemdSpan is what `systemd-analyze timespan` said about an input.
type systemdSpan struct {
	ok    bool   // parsed
	usec  uint64 // the "μs:" line
	human string // the "Human:" line
}

// askSystemd runs `systemd-analyze timespan` on s. In the C locale the µs
// line reads "us:".
func askSystemd(bin, s string) (systemdSpan, error) {
	cmd := exec.Command(bin, "--no-pager", "timespan", "--", s)
	cmd.Env = []string{"LC_ALL=C", "SYSTEMD_COLORS=0", "PATH=" + os.Getenv("PATH")}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 1 && strings.Contains(stderr.String(), "Failed to parse time span"):
		return systemdSpan{}, nil
	case err != nil:
		return systemdSpan{}, fmt.Errorf("systemd-analyze timespan %q: %v\n%s", s, err, stderr.String())
	}
	r := systemdSpan{ok: true}
	haveUsec := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "us: "); ok {
			if r.usec, err = strconv.ParseUint(v, 10, 64); err != nil {
				return r, fmt.Errorf("systemd-analyze timespan %q: µs line %q: %v", s, line, err)
			}
			haveUsec = true
		}
		if v, ok := strings.CutPrefix(line, "Human: "); ok {
			r.human = v
		}
	}
	if !haveUsec || r.human == "" {
		return r, fmt.Errorf("systemd-analyze timespan %q: unexpected output:\n%s", s, stdout.String())
	}
	return r, nil
}

// compareWithSystemd fails tb when Parse disagrees with systemd about s:
// where systemd accepts, Parse must give the same µs, unless the value is
// infinity or too long for a time.Duration (then Parse must refuse); where
// systemd refuses, Parse must refuse.
func compareWithSystemd(tb testing.TB, bin, s string) {
	tb.Helper()
	want, err := askSystemd(bin, s)
	if err != nil {
		tb.Fatal(err)
	}
	got, err := Parse(s)
	switch {
	case !want.ok:
		if err == nil {
			tb.Errorf("Parse(%q) = %v, want an error: systemd refuses it", s, got)
		}
	case want.usec > math.MaxInt64/uint64(time.Microsecond): // including infinity
		if err == nil {
			tb.Errorf("Parse(%q) = %v, want an error: systemd says %d µs, beyond time.Duration", s, got, want.usec)
		}
	case err != nil:
		tb.Errorf("Parse(%q) = %v, want %d µs as systemd says", s, err, want.usec)
	case uint64(got/time.Microsecond) != want.usec || got%time.Microsecond != 0:
		tb.Errorf("Parse(%q) = %v (%d µs), want %d µs as systemd says", s, got, got/time.Microsecond, want.usec)
	}
}
