package calendar

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// ErrNoInterval says that an expression does not elapse at least twice in
// the horizon MaxInterval looks at (a single instant, a date in the past or
// a date that does not exist, such as *-02-30).
var ErrNoInterval = errors.New("does not repeat")

// cycleDays is the length of the Gregorian cycle (400 years): weekdays,
// leap years and month lengths repeat after it.
const cycleDays = 146097

// lastDay is 2199-12-31, the last day systemd schedules.
const lastDay = maxEpoch / 86400

// shorthandSpecs are the expansions systemd gives the shorthands.
var shorthandSpecs = map[string]string{
	"minutely": "*-*-* *:*:00", "hourly": "*-*-* *:00:00", "daily": "*-*-* 00:00:00",
	"weekly": "Mon *-*-* 00:00:00", "monthly": "*-*-01 00:00:00",
	"yearly": "*-01-01 00:00:00", "annually": "*-01-01 00:00:00", "anually": "*-01-01 00:00:00",
	"quarterly":    "*-01,04,07,10-01 00:00:00",
	"semiannually": "*-01,07-01 00:00:00", "semi-annually": "*-01,07-01 00:00:00",
	"biannually": "*-01,07-01 00:00:00", "bi-annually": "*-01,07-01 00:00:00",
}

// MaxInterval is Validator.MaxInterval with the default time-zone database.
func MaxInterval(expr string, from time.Time) (time.Duration, error) {
	return Validator{}.MaxInterval(expr, from)
}

// MaxInterval returns the longest time between two consecutive elapses of
// the calendar expression expr, for the elapses from the day of from on:
// the interval after which a run of a timer with this OnCalendar= is
// overdue. Weekday lists, month lengths, "~" (days from the end of the
// month) and leap years all count: "Mon..Fri 02:00" gives 72h (Friday to
// Monday), "monthly" 31 days, "*-02-29" 8 years (across 2100, which is not
// a leap year).
//
// The elapses counted are those from the day of from through 2199, the
// last year systemd schedules (it computes no elapse after it), and at
// most one Gregorian cycle of 400 years, after which every expression
// repeats. The gaps are in the expression's wall-clock time: a daylight
// saving change moves a real gap by up to an hour. An expression that
// elapses fewer than twice in that span returns ErrNoInterval; an invalid
// one returns Validate's error.
func (v Validator) MaxInterval(expr string, from time.Time) (time.Duration, error) {
	if err := v.Validate(expr); err != nil {
		return 0, err
	}
	sp, err := v.spec(expr)
	if err != nil {
		return 0, err
	}
	gap, ok := maxGap(sp, from)
	if !ok {
		return 0, fmt.Errorf("calendar %q: %w", expr, ErrNoInterval)
	}
	if gap > math.MaxInt64/int64(time.Microsecond) {
		return math.MaxInt64, nil
	}
	return time.Duration(gap) * time.Microsecond, nil
}

// spec parses a valid expression, expanding a shorthand.
func (v Validator) spec(expr string) (*spec, error) {
	body, utc := v.stripZone(expr)
	for w, exp := range shorthandSpecs {
		if equalFoldASCII(body, w) {
			body = exp
		}
	}
	sp := &spec{utc: utc}
	if err := parse(body, sp); err != nil {
		return nil, err
	}
	if err := sp.check(); err != nil {
		return nil, err
	}
	return sp, nil
}

// usecPerDay is one calendar day in µs.
const usecPerDay = 86400 * usecPerSec

// maxGap returns the longest gap in µs between consecutive elapses of sp
// from the day of from on.
func maxGap(sp *spec, from time.Time) (int64, bool) {
	if sp.epoch {
		return 0, false
	}
	tod, ok := timesOfDay(sp)
	if !ok {
		return 0, false
	}
	best := int64(-1)
	if tod.n > 1 {
		best = tod.inner
	}
	// The gap from the last elapse of one matching day to the first of the
	// next.
	across := tod.first - tod.last
	prev := int64(math.MinInt64)
	days(sp, from, func(day int64) bool {
		if prev != math.MinInt64 {
			best = max(best, (day-prev)*usecPerDay+across)
		}
		prev = day
		return true
	})
	return best, best >= 0
}

// days calls yield with the day number (days since 1970-01-01) of every day
// sp matches, in order, from the day of from through 2199 and at most one
// cycle, while yield returns true.
func days(sp *spec, from time.Time, yield func(day int64) bool) {
	y, m, d := from.Date()
	start := daysFromCivil(int64(y), int64(m), int64(d))
	end := min(start+cycleDays, lastDay+1)
	year, month, mday := int64(y), int64(m), int64(d)
	length := monthLength(year, month)
	for day := start; day < end; day++ {
		if matchesDay(sp, year, month, mday, length, day) && !yield(day) {
			return
		}
		if mday++; mday > length {
			mday = 1
			if month++; month > 12 {
				month = 1
				year++
			}
			length = monthLength(year, month)
		}
	}
}

// matchesDay reports whether sp elapses on the date (year, month, mday) of
// a month of length days; day is its day number.
func matchesDay(sp *spec, year, month, mday, length, day int64) bool {
	if sp.weekdays != 0 && sp.weekdays&(1<<weekday(day)) == 0 {
		return false
	}
	if !matches(sp.year, year) || !matches(sp.month, month) {
		return false
	}
	if !sp.endOfMonth {
		return matches(sp.day, mday)
	}
	// "~N" is the N-th day counted back from the last, and a range ~a..b
	// runs from ~b forward to ~a (systemd's find_end_of_month).
	for _, it := range sp.day {
		it = normalize(it)
		s := length + 1 - it.start
		if it.stop >= 0 {
			it.start, it.stop = length+1-it.stop, s
		} else {
			it.start = s
		}
		if member(it, mday) {
			return true
		}
	}
	return false
}

// matches reports whether a field's list (nil: "*") holds x.
func matches(l []item, x int64) bool {
	if l == nil {
		return true
	}
	for _, it := range l {
		if member(normalize(it), x) {
			return true
		}
	}
	return false
}

// member reports whether the normalized item holds x: its start, or a step
// from the start up to its end.
func member(it item, x int64) bool {
	if x == it.start {
		return true
	}
	return it.repeat > 0 && x > it.start && (x-it.start)%it.repeat == 0 && (it.stop < 0 || x <= it.stop)
}

// dayTimes summarizes the times of day an expression elapses at, in µs
// since midnight: how many, the first, the last and the longest gap
// between two consecutive ones.
type dayTimes struct {
	n                  int64
	first, last, inner int64
}

// timesOfDay computes sp's times of day; false when there are none.
func timesOfDay(sp *spec) (dayTimes, bool) {
	var hm []int64 // hour*60+minute
	for h := int64(0); h < 24; h++ {
		if !matches(sp.hour, h) {
			continue
		}
		for m := int64(0); m < 60; m++ {
			if matches(sp.minute, m) {
				hm = append(hm, h*60+m)
			}
		}
	}
	secs := seconds(sp.second)
	if len(hm) == 0 || secs.n == 0 {
		return dayTimes{}, false
	}
	const usecPerMin = 60 * usecPerSec
	t := dayTimes{
		n:     int64(len(hm)) * secs.n,
		first: hm[0]*usecPerMin + secs.first,
		last:  hm[len(hm)-1]*usecPerMin + secs.last,
		inner: secs.inner,
	}
	if secs.n < 2 {
		t.inner = 0
	}
	for i := 1; i < len(hm); i++ {
		t.inner = max(t.inner, (hm[i]-hm[i-1])*usecPerMin+secs.first-secs.last)
	}
	return t, true
}

// seconds summarizes the seconds list (µs within a minute) like dayTimes.
// Up to 1<<16 values are listed and sorted; more (steps of a few µs) are
// marked in a bitmap of the minute.
func seconds(l []item) dayTimes {
	const limit int64 = 60 * usecPerSec // exclusive
	var count int64
	for _, it := range l {
		it = normalize(it)
		count++
		if it.repeat > 0 {
			stop := limit - 1
			if it.stop >= 0 {
				stop = min(it.stop, stop)
			}
			if stop > it.start {
				count += (stop - it.start) / it.repeat
			}
		}
	}
	each := func(yield func(int64)) {
		for _, it := range l {
			it = normalize(it)
			if it.start >= limit {
				continue
			}
			yield(it.start)
			if it.repeat == 0 {
				continue
			}
			for x := it.start + it.repeat; x < limit && (it.stop < 0 || x <= it.stop); x += it.repeat {
				yield(x)
			}
		}
	}
	var t dayTimes
	add := func(x int64) {
		if t.n > 0 {
			t.inner = max(t.inner, x-t.last)
		} else {
			t.first = x
		}
		t.last = x
		t.n++
	}
	if count <= 1<<16 {
		var vs []int64
		each(func(x int64) { vs = append(vs, x) })
		slices.Sort(vs)
		for _, x := range slices.Compact(vs) {
			add(x)
		}
		return t
	}
	set := make([]uint64, (limit+63)/64)
	each(func(x int64) { set[x/64] |= 1 << (x % 64) })
	for i, w := range set {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			add(int64(i)*64 + int64(b))
			w &^= 1 << b
		}
	}
	return t
}

// daysFromCivil is the number of days from 1970-01-01 to the proleptic
// Gregorian date y-m-d.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*cycleDays + doe - 719468
}

// weekday is 0 for Monday .. 6 for Sunday (1970-01-01 was a Thursday).
func weekday(day int64) int64 { return ((day % 7) + 7 + 3) % 7 }

func monthLength(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
