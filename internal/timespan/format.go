package timespan

import (
	"strconv"
	"time"
)

// Format writes d as systemd displays time spans: "1h 30min", "2d",
// "1.500000s", "0". d is truncated to whole microseconds. A negative d gets
// a leading "-", which Parse refuses: systemd has no negative time spans.
func Format(d time.Duration) string {
	usec := d / time.Microsecond
	if usec < 0 {
		return "-" + formatUsec(uint64(-usec))
	}
	return formatUsec(uint64(usec))
}

// formatUsec is systemd's format_timespan(t, accuracy = 1µs): whole units
// from the largest down; below one minute, a remainder is written as a
// decimal fraction of the largest unit that fits.
func formatUsec(t uint64) string {
	if t == 0 {
		return "0"
	}
	var b []byte
	for _, u := range formatUnits {
		if t == 0 {
			break
		}
		if t < u.usec {
			continue
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		a, rem := t/u.usec, t%u.usec
		b = strconv.AppendUint(b, a, 10)
		if digits := fractionDigits(u.usec); t < usecPerMinute && rem > 0 && digits > 0 {
			b = append(b, '.')
			frac := strconv.FormatUint(rem, 10)
			for range digits - len(frac) {
				b = append(b, '0')
			}
			b = append(b, frac...)
			b = append(b, u.name...)
			break
		}
		b = append(b, u.name...)
		t = rem
	}
	return string(b)
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
