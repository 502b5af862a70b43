// Package timespan parses and formats systemd time spans (systemd.time(7),
// "PARSING TIME SPANS"): "30m", "1h 30min", "2d", "1.5h", "500ms", "3 days".
//
// Parse follows systemd 252's parse_sec() (parse_time() with seconds as the
// default unit): a sum of numbers, each with an optional unit; separating
// spaces may be omitted ("1h30min"); a bare number is seconds; a number may
// have a decimal fraction (".5s" too), which is cut at the unit's µs
// resolution. Units are case-sensitive:
//
//	usec, us, µs, μs          microseconds
//	msec, ms                  milliseconds
//	seconds, second, sec, s   seconds
//	minutes, minute, min, m   minutes
//	hours, hour, hr, h        hours
//	days, day, d              days
//	weeks, week, w            weeks
//	months, month, M          30.44 days
//	years, year, y            365.25 days
//
// Differences from systemd, all refusals: "infinity" (no time.Duration
// means it) and spans beyond time.Duration's range (about 292 years, where
// systemd goes on to about 584,542 years) are errors.
//
// Format writes a duration the way systemd displays a time span
// (format_timespan() at µs accuracy, as `systemd-analyze timespan` shows
// it): "1h 30min", "2d", "1min 1.500000s". Parse reads it back. Durations
// are truncated to whole microseconds, systemd's resolution.
package timespan
