package timespan

// Lengths of the units in µs, systemd's resolution.
const (
	usecPerMsec   = 1000
	usecPerSec    = 1000 * usecPerMsec
	usecPerMinute = 60 * usecPerSec
	usecPerHour   = 60 * usecPerMinute
	usecPerDay    = 24 * usecPerHour
	usecPerWeek   = 7 * usecPerDay
	usecPerMonth  = 2629800 * usecPerSec  // 30.44 days
	usecPerYear   = 31557600 * usecPerSec // 365.25 days
)

// parseUnits is systemd's extract_multiplier() table. Order matters: the
// first prefix that matches wins, so longer names come before their
// prefixes ("msec" before "m", "months" before "m").
var parseUnits = []struct {
	name string
	usec uint64
}{
	{"seconds", usecPerSec},
	{"second", usecPerSec},
	{"sec", usecPerSec},
	{"s", usecPerSec},
	{"minutes", usecPerMinute},
	{"minute", usecPerMinute},
	{"min", usecPerMinute},
	{"months", usecPerMonth},
	{"month", usecPerMonth},
	{"M", usecPerMonth},
	{"msec", usecPerMsec},
	{"ms", usecPerMsec},
	{"m", usecPerMinute},
	{"hours", usecPerHour},
	{"hour", usecPerHour},
	{"hr", usecPerHour},
	{"h", usecPerHour},
	{"days", usecPerDay},
	{"day", usecPerDay},
	{"d", usecPerDay},
	{"weeks", usecPerWeek},
	{"week", usecPerWeek},
	{"w", usecPerWeek},
	{"years", usecPerYear},
	{"year", usecPerYear},
	{"y", usecPerYear},
	{"usec", 1},
	{"us", 1},
	{"μs", 1}, // U+03BC GREEK SMALL LETTER MU
	{"µs", 1}, // U+00B5 MICRO SIGN
}

// formatUnits is systemd's format_timespan() table.
var formatUnits = []struct {
	name string
	usec uint64
}{
	{"y", usecPerYear},
	{"month", usecPerMonth},
	{"w", usecPerWeek},
	{"d", usecPerDay},
	{"h", usecPerHour},
	{"min", usecPerMinute},
	{"s", usecPerSec},
	{"ms", usecPerMsec},
	{"us", 1},
}
