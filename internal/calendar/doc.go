// Package calendar validates systemd calendar event expressions, the values
// of a timer's OnCalendar= (systemd.time(7), "CALENDAR EVENTS").
//
// Validate accepts exactly what systemd 252's calendar_spec_from_string()
// accepts, so that configuration validation can reject a schedule before it
// becomes a timer that systemd ignores. It is a pure parser: it never
// executes anything and its only I/O is the time-zone check described below,
// so it is safe inside a generator at boot.
//
// The grammar, as systemd implements it:
//
//	expr     = shorthand [zone] | [weekdays] [date] [time] [zone] | [weekdays] "@" seconds [zone]
//	shorthand= minutely | hourly | daily | weekly | monthly | yearly | annually | anually
//	         | quarterly | semiannually | semi-annually | biannually | bi-annually
//	weekdays = day (("," | ".." | "-") day)* [","]   e.g. Mon..Fri, sat,sun, Monday
//	date     = [year "-"] month ("-" | "~") day      "~" counts days from the end of the month
//	time     = hour ":" minute [":" second]          second may have a fraction: 05.25
//	value    = "*" | item ("," item)*                at most 241 items
//	item     = n [".." n] ["/" step]                 step ≥ 1
//	zone     = " UTC" | " " IANA-name
//
// Words are matched case-insensitively (ASCII only). Years 0..69 mean
// 2000..2069 and 70..99 mean 1970..1999; the year range is 1970..2199. A
// range whose step cannot fire twice collapses to its start (so "1..3/5"
// means "1"). "@N" is a fixed UTC instant and must fall in 1970..2199.
// Spaces separate the parts; several spaces may follow the weekdays or the
// date, but the expression must not start with a space, a shorthand must
// stand alone, and only the single space before the zone is allowed.
//
// Time zones. Like systemd, the word after the last space is a zone when
// ZoneinfoDir (default /usr/share/zoneinfo) holds a regular file of that
// name starting with the TZif magic; the name may only contain ASCII
// letters, digits, "-", "_", "+" and single "/". So the answer depends on
// the tzdata installed where Validate runs, just as systemd's does. One
// exception: where ZoneinfoDir does not exist at all (an initrd without
// tzdata, which loads no timers) a plausible name is accepted, so that the
// initrd never rejects a configuration the host accepts; the host checks it.
//
// Known differences, all on the side of rejecting:
//
//   - systemd also accepts the local zone's abbreviations (tzname[], e.g.
//     "daily CEST" on a host in Europe/Berlin). Validate does not consult
//     the local zone and rejects such an abbreviation unless it also names
//     a zoneinfo file (as "CET" and "EST" do). Use an IANA name instead.
//   - A month step that rolls over past January of the next year ("2/7" is
//     Feb, Sep, then "month 16") is rejected unless the expression ends in
//     " UTC". systemd 252 parses it, but in any zone with daylight saving
//     time it cannot compute the next elapse from the last hit of the year
//     until New Year ("Resource deadlock avoided") and the timer stops.
//     The same months as a list ("2,9") work.
//   - An expression containing a NUL byte is rejected (systemd would stop
//     reading at it).
//
// Like systemd, Validate does not require that the event ever elapses:
// "2020-01-01" and "*-02-30" are valid expressions. Nor does it predict
// the rarer failures of systemd 252's next-elapse search on the day of a
// daylight saving change: an hour step that rolls over midnight into the
// zone's missing hour ("1/5:00" lands on 02:00, "0/6:00" on 00:00 where
// the clocks jump at midnight) fails on that one day. Lists of hours
// ("1,6,11,16,21:00") do not have this problem; neither does UTC.
package calendar
