package calendar

import (
	"errors"
	"fmt"
	"strings"
)

// The parser follows systemd's calendar_spec_from_string() step by step
// (parse_weekdays, parse_date, parse_calendar_time, prepend_component), so
// that the same strings fail; the messages are ours.

const (
	usecPerSec = 1_000_000
	intMax     = 1<<31 - 1 // systemd stores components in a C int
	maxItems   = 241       // CALENDARSPEC_COMPONENTS_MAX + 1 items per list
)

// item is one element of a list: start, start..stop, start/repeat or
// start..stop/repeat. stop is -1 when there is no range. Seconds are in µs.
type item struct {
	start, stop, repeat int64
}

// spec is a parsed expression. A nil list is "*" (the seconds "*" is the
// list {0/1s}, as in systemd).
type spec struct {
	year, month, day, hour, minute, second []item
	endOfMonth                             bool
	utc                                    bool  // ends in " UTC"
	weekdays                               uint8 // bit 0 Monday .. bit 6 Sunday; 0 is every day
	epoch                                  bool  // "@seconds": one instant
	at                                     int64 // of epoch: the seconds
}

type parser struct {
	s string
	i int
}

// at returns the byte k positions ahead, or 0 past the end (the input has
// no NUL bytes, so 0 plays the role of C's terminator).
func (p *parser) at(k int) byte {
	if p.i+k < len(p.s) {
		return p.s[p.i+k]
	}
	return 0
}

func (p *parser) peek() byte { return p.at(0) }

func (p *parser) skipSpaces() {
	for p.peek() == ' ' {
		p.i++
	}
}

// word is the text from the current position to the next space.
func (p *parser) word() string {
	w := p.s[p.i:]
	if j := strings.IndexByte(w, ' '); j >= 0 {
		w = w[:j]
	}
	return w
}

func (p *parser) unexpected() error {
	if p.i >= len(p.s) {
		return errors.New("unexpected end of expression")
	}
	return fmt.Errorf("unexpected %q at %q", p.s[p.i:p.i+1], p.s[p.i:])
}

func parse(s string, sp *spec) error {
	p := parser{s: s}
	if err := p.weekdays(sp); err != nil {
		return err
	}
	epoch, err := p.date(sp)
	if err != nil {
		return err
	}
	if !epoch {
		if err := p.time(sp); err != nil {
			return err
		}
	}
	if p.i < len(p.s) {
		return fmt.Errorf("unexpected %q after the expression", p.s[p.i:])
	}
	return nil
}

var weekdayNames = []struct {
	name string
	nr   int
}{
	{"Monday", 0}, {"Mon", 0},
	{"Tuesday", 1}, {"Tue", 1},
	{"Wednesday", 2}, {"Wed", 2},
	{"Thursday", 3}, {"Thu", 3},
	{"Friday", 4}, {"Fri", 4},
	{"Saturday", 5}, {"Sat", 5},
	{"Sunday", 6}, {"Sun", 6},
}

// weekdays parses an optional weekday list into sp.weekdays. Only syntax
// can be wrong: any set of days is valid.
func (p *parser) weekdays(sp *spec) error {
	from := -1 // start of an open range
	for first := true; ; first = false {
		nr := -1
		for _, d := range weekdayNames {
			if !hasPrefixFoldASCII(p.s[p.i:], d.name) {
				continue
			}
			switch p.at(len(d.name)) {
			case 0, '-', '.', ',', ' ':
			default:
				return fmt.Errorf("unknown word %q", p.word())
			}
			if from > d.nr {
				return fmt.Errorf("weekday range ends at %s, before it starts", d.name)
			}
			p.i += len(d.name)
			nr = d.nr
			lo := nr
			if from >= 0 {
				lo = from
			}
			for k := lo; k <= nr; k++ {
				sp.weekdays |= 1 << k
			}
			break
		}
		if nr < 0 {
			if first {
				return nil // no weekdays: the date follows
			}
			if p.peek() == 0 || isLetter(p.peek()) {
				return fmt.Errorf("expected a weekday at %q", p.word())
			}
			return p.unexpected()
		}
		switch p.peek() {
		case 0:
			return nil
		case ' ':
			p.skipSpaces()
			return nil
		case '.':
			if from >= 0 {
				return errors.New("weekday range has more than two ends")
			}
			if p.at(1) != '.' {
				return errors.New(`weekday range needs "..", not "."`)
			}
			from = nr
			p.i += 2
		case '-': // systemd keeps "-" for ranges for compatibility
			if from >= 0 {
				return errors.New("weekday range has more than two ends")
			}
			from = nr
			p.i++
		case ',':
			from = -1
			p.i++
		}
		// A trailing comma is fine, an open range is not.
		if c := p.peek(); c == 0 || c == ' ' {
			p.skipSpaces()
			if from >= 0 {
				return errors.New("weekday range has no end")
			}
			return nil
		}
	}
}

// date parses an optional [year-]month-day or "@seconds". It reports
// whether it read "@seconds", after which no time may follow.
func (p *parser) date(sp *spec) (epoch bool, err error) {
	if p.peek() == 0 {
		return false, nil
	}
	if p.peek() == '@' {
		sp.epoch = true
		return true, p.epoch(sp)
	}
	start := p.i
	first, err := p.list(false)
	if err != nil {
		return false, err
	}
	switch p.peek() {
	case 0, ':': // that was an hour, not a date
		p.i = start
		return false, nil
	case '~':
		sp.endOfMonth = true
	case '-':
	default:
		return false, fmt.Errorf(`expected "-" (date) or ":" (time) after %q`, p.s[start:p.i])
	}
	p.i++
	second, err := p.list(false)
	if err != nil {
		return false, err
	}
	switch c := p.peek(); {
	case c == 0 || c == ' ':
		p.skipSpaces()
		sp.month, sp.day = first, second
		return false, nil
	case sp.endOfMonth:
		return false, errors.New(`"~" may only separate the month from the day`)
	case c == '~':
		sp.endOfMonth = true
	case c == '-':
	default:
		return false, p.unexpected()
	}
	p.i++
	third, err := p.list(false)
	if err != nil {
		return false, err
	}
	if c := p.peek(); c != 0 && c != ' ' {
		return false, p.unexpected()
	}
	p.skipSpaces()
	sp.year, sp.month, sp.day = first, second, third
	return false, nil
}

// time parses hour:minute[:second]; no time at all means 00:00:00.
func (p *parser) time(sp *spec) error {
	zero := []item{{start: 0, stop: -1}}
	if p.peek() == 0 {
		sp.hour, sp.minute, sp.second = zero, zero, zero
		return nil
	}
	start := p.i
	hour, err := p.list(false)
	if err != nil {
		return err
	}
	if p.peek() != ':' {
		return fmt.Errorf(`expected ":" after hour %q`, p.s[start:p.i])
	}
	p.i++
	minute, err := p.list(false)
	if err != nil {
		return err
	}
	second := zero
	if p.peek() != 0 {
		if p.peek() != ':' {
			return p.unexpected()
		}
		p.i++
		if second, err = p.list(true); err != nil {
			return err
		}
		if p.peek() != 0 {
			return p.unexpected()
		}
	}
	sp.hour, sp.minute, sp.second = hour, minute, second
	return nil
}

// list parses "*" or a comma-separated list of items. For the seconds
// (usec), values are in µs and may have a fraction.
func (p *parser) list(usec bool) ([]item, error) {
	if p.peek() == '*' {
		p.i++
		if usec {
			return []item{{start: 0, stop: -1, repeat: usecPerSec}}, nil
		}
		return nil, nil
	}
	var l []item
	for n := 0; ; n++ {
		if n >= maxItems {
			return nil, fmt.Errorf("list has more than %d items", maxItems)
		}
		it := item{stop: -1}
		var err error
		if it.start, err = p.decimal(usec); err != nil {
			return nil, err
		}
		if p.peek() == '.' && p.at(1) == '.' {
			p.i += 2
			if it.stop, err = p.decimal(usec); err != nil {
				return nil, err
			}
			it.repeat = 1
			if usec {
				it.repeat = usecPerSec
			}
		}
		if p.peek() == '/' {
			p.i++
			if it.repeat, err = p.decimal(usec); err != nil {
				return nil, err
			}
			if it.repeat == 0 {
				return nil, errors.New("repetition /0 is not allowed")
			}
		} else {
			if it.start > intMax-it.repeat {
				return nil, fmt.Errorf("number %d is too large", it.start)
			}
			// The implicit step of a seconds range is 1s.
			if usec && it.stop >= 0 && it.start+it.repeat > it.stop {
				return nil, fmt.Errorf("seconds range %s..%s is shorter than its implicit step 1; give a step with /",
					formatUsec(it.start), formatUsec(it.stop))
			}
		}
		switch p.peek() {
		case 0, ' ', ',', '-', '~', ':':
		default:
			return nil, p.unexpected()
		}
		l = append(l, it)
		if p.peek() != ',' {
			return l, nil
		}
		p.i++
	}
}

// decimal parses a non-negative number (parse_component_decimal). For
// seconds it may have a fraction, rounded to µs.
func (p *parser) decimal(usec bool) (int64, error) {
	c := p.peek()
	if !isDigit(c) {
		switch {
		case c == 0:
			return 0, errors.New(`expected a number or "*" at the end of the expression`)
		case isLetter(c):
			return 0, fmt.Errorf("unknown word %q", p.word())
		default:
			return 0, fmt.Errorf(`expected a number or "*" at %q`, p.s[p.i:])
		}
	}
	start := p.i
	var v uint64
	tooLarge := false
	for isDigit(p.peek()) {
		d := uint64(p.peek() - '0')
		if v > (1<<64-1-d)/10 {
			tooLarge = true
		}
		v = v*10 + d
		p.i++
	}
	if usec {
		if v > (1<<64-1)/usecPerSec {
			tooLarge = true
		}
		v *= usecPerSec
		// One "." is a decimal point, ".." a range.
		if p.peek() == '.' && p.at(1) != '.' {
			p.i++
			frac, err := p.fraction()
			if err != nil {
				return 0, err
			}
			if v+frac < v {
				tooLarge = true
			}
			v += frac
		}
	}
	if tooLarge || v > intMax {
		return 0, fmt.Errorf("number %s is too large", p.s[start:p.i])
	}
	return int64(v), nil
}

// fraction parses the digits after a decimal point as µs, rounding on the
// seventh digit (systemd's parse_fractional_part_u).
func (p *parser) fraction() (uint64, error) {
	var v uint64
	for n := 0; n < 6; n++ {
		if !isDigit(p.peek()) {
			if n == 0 {
				return 0, errors.New(`expected digits after "." in the seconds`)
			}
			for ; n < 6; n++ {
				v *= 10
			}
			break
		}
		v = v*10 + uint64(p.peek()-'0')
		p.i++
	}
	if c := p.peek(); '5' <= c && c <= '9' {
		v++
	}
	for isDigit(p.peek()) {
		p.i++
	}
	return v, nil
}

// maxEpoch is 2199-12-31 23:59:59 UTC, the last second systemd schedules.
const maxEpoch = 7258118399

// epoch parses "@seconds" with strtoul's rules: leading white space, a sign
// (a negated value wraps around), decimal digits.
func (p *parser) epoch(sp *spec) error {
	p.i++ // '@'
	j := p.i
	for j < len(p.s) && isCSpace(p.s[j]) {
		j++
	}
	neg := false
	if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
		neg = p.s[j] == '-'
		j++
	}
	digits := j
	var v uint64
	tooLarge := false
	for j < len(p.s) && isDigit(p.s[j]) {
		d := uint64(p.s[j] - '0')
		if v > (1<<64-1-d)/10 {
			tooLarge = true
		}
		v = v*10 + d
		j++
	}
	if j == digits {
		return errors.New(`expected seconds since 1970-01-01 after "@"`)
	}
	if tooLarge {
		return fmt.Errorf("@%s is too large", p.s[p.i:j])
	}
	if neg {
		v = -v
	}
	if t := int64(v); t < 0 || t > maxEpoch {
		return fmt.Errorf("@%s is outside 1970-01-01..2199-12-31", strings.TrimLeft(p.s[p.i:j], " \t\n\v\f\r"))
	}
	p.i = j
	sp.at = int64(v)
	return nil
}
