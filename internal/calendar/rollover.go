package calendar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errMonthRollover marks the one expression shape Validate rejects although
// systemd's parser accepts it (see checkMonthRollover).
var errMonthRollover = errors.New("month step rolls over into the next year")

// checkMonthRollover rejects a month step that, searched from a month after
// its last hit of the year, lands beyond January of the next year: "2/7"
// after September is "month 16". systemd 252 normalizes that to April and
// then reuses April's daylight-saving flag for January 1st; in a zone with
// daylight saving time (the local one or a named one) mktime() moves the
// time back an hour, find_next() goes around in circles, and the timer
// fails with "Failed to determine next elapse ... Resource deadlock
// avoided" and is treated as elapsed. Rolling into January ("1/3") is
// safe; February and March are refused too, to be safe in zones whose
// daylight saving time changes early in the year. The same months written
// as a list ("2,9") work, and so does the step in UTC.
func checkMonthRollover(l []item) error {
	if l == nil {
		return nil
	}
	last := int64(0) // the year's last month the list hits
	for _, it := range l {
		last = max(last, lastHit(it, 12))
	}
	if last == 12 {
		return nil // any search that starts in this year finds a month in it
	}
	var worst item
	next := int64(0) // the month a search after the last hit lands on
	for _, it := range l {
		if it.stop >= 0 || it.repeat == 0 {
			continue // ranges and single months end within the year
		}
		if n := lastHit(it, 12) + it.repeat; next == 0 || n < next {
			next, worst = n, it
		}
	}
	if next <= 13 {
		return nil
	}
	var months []string
	for m := worst.start; m <= 12; m += worst.repeat {
		months = append(months, strconv.FormatInt(m, 10))
	}
	return fmt.Errorf("%w: after month %d, step %d/%d lands on month %d, which systemd 252 cannot schedule in a time zone with daylight saving time; list the months instead (%s) or use UTC",
		errMonthRollover, last, worst.start, worst.repeat, next, strings.Join(months, ","))
}

// lastHit is the largest value of it that is at most limit.
func lastHit(it item, limit int64) int64 {
	switch {
	case it.stop >= 0:
		return it.stop // normalized: a hit of the range, at most limit
	case it.repeat == 0:
		return it.start
	default:
		return it.start + (limit-it.start)/it.repeat*it.repeat
	}
}
