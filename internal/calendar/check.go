package calendar

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// check normalizes sp and checks every list against its field's range, as
// systemd's calendar_spec_normalize() and calendar_spec_valid() do.
func (sp *spec) check() error {
	if sp.endOfMonth && sp.day == nil {
		sp.endOfMonth = false // "*-*~*" is just "*-*-*"
	}
	fixYears(sp.year)
	fields := []struct {
		name     string
		l        []item
		from, to int64
		eom      bool
	}{
		{"year", sp.year, 1970, 2199, false},
		{"month", sp.month, 1, 12, false},
		{"day", sp.day, 1, 31, sp.endOfMonth}, // with "~": 28, see below
		{"hour", sp.hour, 0, 23, false},
		{"minute", sp.minute, 0, 59, false},
		{"second", sp.second, 0, 60*usecPerSec - 1, false},
	}
	for _, f := range fields {
		format := strconv.FormatInt
		if f.name == "second" {
			format = func(v int64, _ int) string { return formatUsec(v) }
		}
		to := f.to
		l := normalizeList(f.l)
		for _, it := range l {
			if f.eom {
				// systemd's chain_valid() lowers the limit by 3 for every item
				// after "~", not just once: ~28 is fine, ~1,28 is not.
				to -= 3
			}
			if err := checkItem(it, f.name, f.from, to, f.eom, format); err != nil {
				return err
			}
		}
		if f.name == "month" && !sp.utc {
			if err := checkMonthRollover(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeList normalizes every item, sorts them and drops duplicates,
// like systemd's normalize_chain(). Order matters only after "~".
func normalizeList(l []item) []item {
	out := make([]item, 0, len(l))
	for _, it := range l {
		out = append(out, normalize(it))
	}
	slices.SortFunc(out, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.stop, b.stop), cmp.Compare(a.repeat, b.repeat))
	})
	return slices.Compact(out)
}

// fixYears turns two-digit years into 2000..2069 and 1970..1999.
func fixYears(l []item) {
	fix := func(y int64) int64 {
		switch {
		case 0 <= y && y < 70:
			return y + 2000
		case 70 <= y && y < 100:
			return y + 1900
		}
		return y
	}
	for i := range l {
		l[i].start, l[i].stop = fix(l[i].start), fix(l[i].stop)
	}
}

// normalize shortens a stepped range to its last hit and collapses a range
// that cannot fire twice (or has equal ends) to its start.
func normalize(it item) item {
	if it.stop > it.start && it.repeat > 0 {
		it.stop -= (it.stop - it.start) % it.repeat
	}
	if (it.stop > it.start && it.repeat > 0 && it.start+it.repeat > it.stop) || it.start == it.stop {
		it.repeat, it.stop = 0, -1
	}
	return it
}

// checkItem is systemd's chain_valid() for one item. With eom (a day
// after "~"), values count days before the end of the month; the caller
// lowers to accordingly.
func checkItem(it item, name string, from, to int64, eom bool, format func(int64, int) string) error {
	f := func(v int64) string { return format(v, 10) }
	tilde, why := "", ""
	if eom {
		tilde = "~"
		if to < 28 {
			why = ` (systemd lowers the limit by 3 for each further day after "~")`
		}
	}
	bounds := f(from) + ".." + f(to)
	if it.start < from || it.start > to {
		return fmt.Errorf("%s %s%s out of range %s%s", name, tilde, f(it.start), bounds, why)
	}
	if it.repeat > to-from {
		return fmt.Errorf("%s step /%s is longer than the range %s", name, f(it.repeat), bounds)
	}
	if it.stop >= 0 {
		if it.stop < from || it.stop > to {
			return fmt.Errorf("%s %s%s out of range %s%s", name, tilde, f(it.stop), bounds, why)
		}
		if it.start+it.repeat > it.stop {
			return fmt.Errorf("%s range %s%s..%s ends before it starts", name, tilde, f(it.start), f(it.stop))
		}
		return nil
	}
	if eom && it.start-it.repeat < from {
		return fmt.Errorf("%s ~%s/%s steps past the last day of the month", name, f(it.start), f(it.repeat))
	}
	if !eom && it.start+it.repeat > to {
		return fmt.Errorf("%s %s/%s never repeats: the next step is past %s", name, f(it.start), f(it.repeat), f(to))
	}
	return nil
}

// formatUsec writes µs as seconds: 5, 5.25.
func formatUsec(v int64) string {
	s := strconv.FormatInt(v/usecPerSec, 10)
	if frac := v % usecPerSec; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	return s
}
