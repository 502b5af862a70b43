package calendar

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// source is the randomness behind genExpr: a PRNG for the property test,
// the fuzzer's bytes for the fuzz target.
type source interface {
	intn(n int) int // in [0, n)
}

type randSource struct{ r *rand.Rand }

func (s randSource) intn(n int) int { return s.r.IntN(n) }

// byteSource draws from a byte string and yields 0 once it runs out, so
// that short inputs make short, plain expressions.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) intn(n int) int {
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i])
	s.i++
	if n > 256 && s.i < len(s.b) {
		v = v<<8 | int(s.b[s.i])
		s.i++
	}
	return v % n
}

func pick(s source, choices ...string) string { return choices[s.intn(len(choices))] }

// Values per field, as text so that leading zeros and fractions show up:
// mostly valid ones, then the edges on both sides of the range.
type values struct{ good, edge []string }

var (
	genYears   = values{[]string{"26", "2026", "2027", "1970", "2199", "0", "69", "70", "99", "02026"}, []string{"100", "1969", "2200"}}
	genMonths  = values{[]string{"1", "01", "2", "6", "7", "9", "11", "12"}, []string{"0", "13"}}
	genDays    = values{[]string{"1", "01", "2", "5", "15", "25", "27", "28", "29", "30", "31"}, []string{"0", "32"}}
	genHours   = values{[]string{"0", "00", "1", "6", "12", "22", "23"}, []string{"24"}}
	genMinutes = values{[]string{"0", "00", "1", "15", "30", "45", "59"}, []string{"60"}}
	genSeconds = values{[]string{"0", "00", "5", "30", "59", "0.5", "5.25", "59.5", "59.999999", "59.9999994"},
		[]string{"60", "59.9999995", "1.0000001", "0.", "2147", "2148"}}
	genSteps    = values{[]string{"1", "2", "3", "4", "5", "6", "7", "10", "15"}, []string{"0", "12", "29", "30", "59", "60", "229", "230", "2147483648"}}
	genSecSteps = values{[]string{"0.5", "0.25", "1", "1.5", "10", "30"}, []string{"0.000001", "59", "60"}}
)

func (v values) pick(s source) string {
	if s.intn(5) == 0 {
		return pick(s, v.edge...)
	}
	return pick(s, v.good...)
}

func genWeekday(s source) string {
	d := pick(s, "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
	if s.intn(20) == 0 {
		d = pick(s, "Mond", "Frid", "Tues", "Sa")
	}
	switch s.intn(4) {
	case 0:
		return strings.ToLower(d)
	case 1:
		return strings.ToUpper(d)
	}
	return d
}

func genWeekdays(s source) string {
	var b strings.Builder
	b.WriteString(genWeekday(s))
	for n := s.intn(3); n > 0; n-- {
		sep := pick(s, ",", ",", ",", "..", "..", "-")
		if s.intn(20) == 0 {
			sep = pick(s, ".", ",,", " ")
		}
		b.WriteString(sep)
		b.WriteString(genWeekday(s))
	}
	if s.intn(6) == 0 {
		b.WriteString(pick(s, ",", "..", "-"))
	}
	return b.String()
}

// genList makes "*" or a list of items over the given values.
func genList(s source, vals, steps values) string {
	if s.intn(4) == 0 {
		return "*"
	}
	items := make([]string, 1+s.intn(3))
	for i := range items {
		it := vals.pick(s)
		if s.intn(3) == 0 {
			a, b := it, vals.pick(s)
			// Mostly in order; numbers only compare well when they parse.
			x, errA := strconv.ParseFloat(a, 64)
			y, errB := strconv.ParseFloat(b, 64)
			if errA == nil && errB == nil && x > y && s.intn(4) != 0 {
				a, b = b, a
			}
			it = a + ".." + b
		}
		if s.intn(3) == 0 {
			it += "/" + steps.pick(s)
		}
		items[i] = it
	}
	return strings.Join(items, ",")
}

func genDate(s source) string {
	sep := func() string {
		if s.intn(5) == 0 {
			return "~"
		}
		return "-"
	}
	md := genList(s, genMonths, genSteps) + sep() + genList(s, genDays, genSteps)
	if s.intn(3) == 0 {
		return md
	}
	return genList(s, genYears, genSteps) + "-" + md
}

func genTime(s source) string {
	t := genList(s, genHours, genSteps) + ":" + genList(s, genMinutes, genSteps)
	if s.intn(2) == 0 {
		t += ":" + genList(s, genSeconds, genSecSteps)
	}
	return t
}

func genZone(s source) string {
	if s.intn(3) == 0 {
		return pick(s, " CEST", " Nowhere/Zone", " Europe/", " Europe//Berlin", "  UTC", " zone.tab", " UTC ", " leapseconds")
	}
	return pick(s, " UTC", " utc", " Europe/Berlin", " Etc/GMT+5", " America/New_York", " posix/Asia/Tokyo",
		" right/UTC", " CET", " Australia/Sydney", " Asia/Kolkata")
}

// genExpr builds an expression from grammar pieces, sometimes with a typo.
func genExpr(s source) string {
	var e string
	switch s.intn(10) {
	case 0:
		e = pick(s, shorthands...)
		if s.intn(3) == 0 {
			e = strings.ToUpper(e)
		}
	case 1:
		e = "@" + pick(s, "0", "1", "1700000000", "7258118399", "7258118400", "-0", "-1", "+5", " 5",
			"18446744073709551615", "-18446744073709551615", "99999999999999999999")
		if s.intn(3) == 0 {
			e = genWeekdays(s) + " " + e
		}
	default:
		var parts []string
		if s.intn(2) == 0 {
			parts = append(parts, genWeekdays(s))
		}
		if s.intn(3) != 0 {
			parts = append(parts, genDate(s))
		}
		if s.intn(3) != 0 || len(parts) == 0 && s.intn(8) != 0 {
			parts = append(parts, genTime(s))
		}
		e = strings.Join(parts, pick(s, " ", " ", " ", " ", " ", "  ", "\t"))
	}
	if s.intn(4) == 0 {
		e += genZone(s)
	}
	if s.intn(8) == 0 {
		e = mutate(s, e)
	}
	return e
}

// mutate inserts, deletes or replaces one byte.
func mutate(s source, e string) string {
	const alphabet = "0123456789*-~:.,/@ MonFriUTCx"
	i := 0
	if len(e) > 0 {
		i = s.intn(len(e) + 1)
	}
	c := string(alphabet[s.intn(len(alphabet))])
	switch {
	case s.intn(3) == 0 || i == len(e):
		return e[:i] + c + e[i:]
	case s.intn(2) == 0:
		return e[:i] + e[i+1:]
	default:
		return e[:i] + c + e[i+1:]
	}
}
