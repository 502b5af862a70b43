package timespan

import (
	"strconv"
	"time"
)

// Format writes d as systemd displays time spans: "1h 30min", "2d",
// "1.500000s", "0". d is truncated to whole microseconds. A negative d gets
// a leading "-", which Parse refuses: systemd has no negative time spans.
func Format(d time.Duration) string { return string(AppendFormat(nil, d)) }

// AppendFormat appends Format(d) to b, for a caller that formats many.
func AppendFormat(b []byte, d time.Duration) []byte {
	usec := d / time.Microsecond
	if usec < 0 {
		return appendUsec(append(b, '-'), uint64(-usec))
	}
	return appendUsec(b, uint64(usec))
}

// appendUsec is systemd's format_timespan(t, accuracy = 1µs): whole units
// from the largest down; below one minute, a remainder is written as a
// decimal fraction of the largest unit that fits.
func appendUsec(b []byte, t uint64) []byte {
	if t == 0 {
		return append(b, '0')
	}
	start := len(b)
	for _, u := range formatUnits {
		if t == 0 {
			break
		}
		if t < u.usec {
			continue
		}
		if len(b) > start {
			b = append(b, ' ')
		}
		a, rem := t/u.usec, t%u.usec
		b = strconv.AppendUint(b, a, 10)
		if digits := fractionDigits(u.usec); t < usecPerMinute && rem > 0 && digits > 0 {
			b = append(b, '.')
			for p := u.usec / 10; p > rem && p > 1; p /= 10 {
				b = append(b, '0') // leading zeros of the fraction
			}
			b = strconv.AppendUint(b, rem, 10)
			b = append(b, u.name...)
			break
		}
		b = append(b, u.name...)
		t = rem
	}
	return b
}

// fractionDigits is how many decimal digits a unit has in µs: 6 for "s",
// 3 for "ms", 0 for "us".
func fractionDigits(unit uint64) int {
	n := 0
	for ; unit > 1; unit /= 10 {
		n++
	}
	return n
}
