package calendar

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Next is Validator.Next with the default time-zone database.
func Next(expr string, after time.Time, loc *time.Location) (time.Time, bool, error) {
	return Validator{}.Next(expr, after, loc)
}

// Next returns the first elapse of the calendar expression expr strictly
// after after, as systemd's timer computes it: in the zone expr names
// (" UTC" or a zone file), else in loc (the machine's zone). false means
// expr elapses no more after after (through 2199, the last year systemd
// schedules, and at most one Gregorian cycle); an invalid expression
// returns Validate's error.
//
// A wall-clock time that a daylight saving change skips is moved forward
// by the gap (Go's time.Date), where systemd moves to the next matching
// time: the two differ only inside that hour.
func (v Validator) Next(expr string, after time.Time, loc *time.Location) (time.Time, bool, error) {
	if err := v.Validate(expr); err != nil {
		return time.Time{}, false, err
	}
	sp, err := v.spec(expr)
	if err != nil {
		return time.Time{}, false, err
	}
	body, utc := v.stripZone(expr)
	switch {
	case utc:
		loc = time.UTC
	case body != expr:
		name := expr[len(body)+1:]
		dir := v.ZoneinfoDir
		if dir == "" {
			dir = DefaultZoneinfoDir
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return time.Time{}, false, fmt.Errorf("calendar %q: zone %s: %w", expr, name, err)
		}
		if loc, err = time.LoadLocationFromTZData(name, b); err != nil {
			return time.Time{}, false, fmt.Errorf("calendar %q: zone %s: %w", expr, name, err)
		}
	case loc == nil:
		loc = time.Local
	}
	if sp.epoch {
		at := time.Unix(sp.at, 0)
		return at, at.After(after), nil
	}
	t, ok := next(sp, after.In(loc))
	return t, ok, nil
}

// next returns the first elapse of sp after t, in t's location.
func next(sp *spec, t time.Time) (time.Time, bool) {
	y, m, d := t.Date()
	// µs since the wall-clock midnight of t's day.
	tod := int64(t.Hour())*3600*usecPerSec + int64(t.Minute())*60*usecPerSec +
		int64(t.Second())*usecPerSec + int64(t.Nanosecond()/1000)
	year, month, mday := int64(y), int64(m), int64(d)
	start := daysFromCivil(year, month, mday)
	end := min(start+cycleDays, lastDay+1)
	length := monthLength(year, month)
	after := tod
	for day := start; day < end; day++ {
		if matchesDay(sp, year, month, mday, length, day) {
			if at, ok := firstTimeAfter(sp, after); ok {
				h, rest := at/(3600*usecPerSec), at%(3600*usecPerSec)
				mi, rest := rest/(60*usecPerSec), rest%(60*usecPerSec)
				s, us := rest/usecPerSec, rest%usecPerSec
				return time.Date(int(year), time.Month(month), int(mday), int(h), int(mi), int(s), int(us)*1000, t.Location()), true
			}
		}
		after = -1 // later days: from midnight on
		if mday++; mday > length {
			mday = 1
			if month++; month > 12 {
				month = 1
				year++
			}
			length = monthLength(year, month)
		}
	}
	return time.Time{}, false
}

// firstTimeAfter returns the first time of day (µs since midnight) sp
// elapses at that is later than after (-1: from midnight on).
func firstTimeAfter(sp *spec, after int64) (int64, bool) {
	const usecPerMin = 60 * usecPerSec
	for h := int64(0); h < 24; h++ {
		if !matches(sp.hour, h) || (h+1)*60*usecPerMin <= after {
			continue
		}
		for mi := int64(0); mi < 60; mi++ {
			base := (h*60 + mi) * usecPerMin
			if base+usecPerMin <= after || !matches(sp.minute, mi) {
				continue
			}
			if s, ok := nextSecond(sp.second, max(after-base, -1)); ok {
				return base + s, true
			}
		}
	}
	return 0, false
}

// nextSecond returns the smallest value of the seconds list (µs within a
// minute) above after.
func nextSecond(l []item, after int64) (int64, bool) {
	const limit = 60 * usecPerSec
	best, ok := int64(limit), false
	for _, it := range l {
		it = normalize(it)
		x := it.start
		if x <= after {
			if it.repeat <= 0 {
				continue
			}
			x = it.start + ((after-it.start)/it.repeat+1)*it.repeat
		}
		if x < limit && (it.stop < 0 || x <= it.stop || x == it.start) && x < best {
			best, ok = x, true
		}
	}
	return best, ok
}
