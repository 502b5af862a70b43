package timespan

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that what it accepts survives
// Format and Parse again, and, when systemd-analyze is installed, that it
// agrees with systemd. Run with
//
//	go test ./internal/timespan -run '^$' -fuzz FuzzParse -fuzztime 2m
func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	bin := analyzeBinary()
	f.Fuzz(func(t *testing.T, in string) {
		d, err := Parse(in)
		if err == nil {
			if d < 0 {
				t.Errorf("Parse(%q) = %v, want a non-negative duration", in, d)
			}
			if back, err := Parse(Format(d)); err != nil || back != d {
				t.Errorf("Parse(Format(Parse(%q))) = %v, %v, want %v", in, back, err, d)
			}
		} else if !strings.HasPrefix(err.Error(), "timespan ") {
			t.Errorf("Parse(%q) = %q, want an error naming the input", in, err)
		}
		if bin != "" && len(in) <= 100 && strings.IndexByte(in, 0) < 0 {
			compareWithSystemd(t, bin, in)
		}
	})
}
