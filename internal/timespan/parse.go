package timespan

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Parse parses a systemd time span into a duration. The error names the
// input and says what is wrong with it.
func Parse(s string) (time.Duration, error) {
	usec, err := parseUsec(s)
	if err != nil {
		return 0, fmt.Errorf("timespan %q: %w", s, err)
	}
	if usec > math.MaxInt64/uint64(time.Microsecond) {
		return 0, fmt.Errorf("timespan %q: longer than a time.Duration can hold (about 292 years)", s)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// whitespace is systemd's WHITESPACE: what may separate numbers and units.
const whitespace = " \t\n\r"

func skip(s string, i int, set string) int {
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseUsec is systemd's parse_time(s, USEC_PER_SEC), in µs, except that
// it refuses "infinity".
func parseUsec(s string) (uint64, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return 0, errors.New("contains a NUL byte")
	}
	p := skip(s, 0, whitespace)
	if rest, ok := strings.CutPrefix(s[p:], "infinity"); ok {
		if skip(rest, 0, whitespace) == len(rest) {
			return 0, errors.New("infinity is not a finite duration")
		}
		return 0, fmt.Errorf("unexpected %q after infinity", strings.TrimLeft(rest, whitespace))
	}

	var usec uint64
	unitStart := -1 // where the previous number's unit began, if it had one
	for something := false; ; something = true {
		p = skip(s, p, whitespace)
		if p == len(s) {
			if !something {
				return 0, errors.New("empty")
			}
			return usec, nil
		}
		if s[p] == '-' {
			return 0, errors.New("negative time spans are not allowed")
		}
		start := p
		l, e, overflow := strtoll(s, p)
		if overflow {
			return 0, fmt.Errorf("number %q is too large", strings.TrimLeft(s[p:e], "\v\f"))
		}
		if l < 0 {
			return 0, errors.New("negative time spans are not allowed")
		}
		var next int // after the number and its fraction
		switch {
		case e < len(s) && s[e] == '.':
			next = e + 1
			for next < len(s) && isDigit(s[next]) {
				next++
			}
		case e == p:
			if unitStart >= 0 && unitStart < p && !strings.ContainsAny(s[unitStart:p], whitespace) {
				return 0, fmt.Errorf("unknown unit %q", word(s, unitStart))
			}
			return 0, fmt.Errorf("expected a number at %q", s[p:])
		default:
			next = e
		}

		q := skip(s, next, whitespace)
		mult, end := uint64(usecPerSec), q // a bare number is seconds
		unitStart = -1
		for _, u := range parseUnits {
			if strings.HasPrefix(s[q:], u.name) {
				mult, end, unitStart = u.usec, q+len(u.name), q
				break
			}
		}
		if end == next && end < len(s) {
			// Neither a unit nor a space follows the number: "5x", "1.2.3".
			if w := word(s, end); w != "" {
				return 0, fmt.Errorf("unknown unit %q", w)
			}
			return 0, fmt.Errorf("unexpected %q at %q", s[end:end+1], s[end:])
		}
		p = end

		if uint64(l) >= math.MaxUint64/mult {
			return 0, errors.New("too large")
		}
		k := uint64(l) * mult
		if k >= math.MaxUint64-usec {
			return 0, errors.New("too large")
		}
		usec += k

		if e < len(s) && s[e] == '.' {
			// The fraction counts in tenths, hundredths, … of the unit;
			// digits below 1µs add nothing.
			m := mult / 10
			b := e + 1
			for ; b < len(s) && isDigit(s[b]); b++ {
				k := uint64(s[b]-'0') * m
				if k >= math.MaxUint64-usec {
					return 0, errors.New("too large")
				}
				usec += k
				m /= 10
			}
			if b == e+1 {
				return 0, fmt.Errorf(`expected digits after "." in %q`, s[start:end])
			}
		}
	}
}

// word is the run of letters (any non-ASCII byte counts as one) at i.
func word(s string, i int) string {
	j := i
	for j < len(s) && (s[j] >= 0x80 || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z') {
		j++
	}
	return s[i:j]
}

// strtoll is C's strtoll(s+i, &end, 10): leading isspace(), a sign, decimal
// digits. With no digits, end is i. overflow reports ERANGE.
func strtoll(s string, i int) (v int64, end int, overflow bool) {
	j := i
	for j < len(s) && (strings.IndexByte(whitespace, s[j]) >= 0 || s[j] == '\v' || s[j] == '\f') {
		j++
	}
	neg := false
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		neg = s[j] == '-'
		j++
	}
	start := j
	var mag uint64
	for j < len(s) && isDigit(s[j]) {
		d := uint64(s[j] - '0')
		if mag > (math.MaxUint64-d)/10 {
			overflow = true
		} else {
			mag = mag*10 + d
		}
		j++
	}
	if j == start {
		return 0, i, false
	}
	switch {
	case overflow:
	case neg && mag > 1<<63:
		overflow = true
	case neg:
		v = -int64(mag-1) - 1 // mag may be 1<<63
	case mag > math.MaxInt64:
		overflow = true
	default:
		v = int64(mag)
	}
	return v, j, overflow
}
