package progress

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/server-impermanence/server-impermanence/internal/human"
)

// Width is the widest line drawn: a line has at most Width-1 columns, so
// the cursor never waits at the right margin (where some terminals wrap).
const Width = 80

// Item is one snapshot (or one stream) being moved.
type Item struct {
	Target    string
	Subvolume string
	Snapshot  string
	// Index of Count (from 1); Count 0 shows neither.
	Index, Count int
	// Total is the size in bytes when known in advance, 0 when not.
	Total int64
	// Estimated marks a Total that is an estimate: the time left is shown
	// with "~" and no percentage.
	Estimated bool
	// Doing, when set, says what is being done before the bytes of the
	// running line ("checking"); a transfer leaves it empty.
	Doing string
	// Verb names the finished item in its final line ("sent",
	// "replayed"); default "done".
	Verb string
}

// Status is an item after Done bytes in Elapsed.
type Status struct {
	Item
	Done    int64
	Elapsed time.Duration
}

// rate is bytes per second; ok is false before any time passed.
func (s Status) rate() (float64, bool) {
	if s.Elapsed <= 0 || s.Done < 0 {
		return 0, false
	}
	return float64(s.Done) / s.Elapsed.Seconds(), true
}

// left is the time left; ok only with a Total not yet reached and a rate.
func (s Status) left() (time.Duration, bool) {
	r, ok := s.rate()
	if !ok || r <= 0 || s.Total <= 0 || s.Done > s.Total {
		return 0, false
	}
	secs := float64(s.Total-s.Done) / r
	if secs > float64(maxClock/time.Second) {
		return maxClock, true
	}
	return time.Duration(secs * float64(time.Second)), true
}

// Line renders s as the status line, at most width-1 columns (width <= 0
// is Width).
func Line(s Status, width int) string {
	stats := []string{}
	if s.Count > 0 {
		stats = append(stats, fmt.Sprintf("%d/%d", s.Index, s.Count))
	}
	if s.Doing != "" {
		stats = append(stats, printable(s.Doing))
	}
	amount := humanBytes(s.Done)
	if s.Total > 0 {
		sep := "/"
		if s.Estimated {
			sep = "/~"
		}
		amount += sep + humanBytes(s.Total)
		if !s.Estimated && s.Done <= s.Total {
			amount += fmt.Sprintf(" %d%%", percent(s.Done, s.Total))
		}
	}
	stats = append(stats, amount)
	if r, ok := s.rate(); ok {
		stats = append(stats, humanBytes(int64(r))+"/s")
	}
	if d, ok := s.left(); ok {
		eta := "ETA " + clock(d)
		if s.Estimated {
			eta = "ETA ~" + clock(d)
		}
		stats = append(stats, eta)
	} else {
		stats = append(stats, clock(s.Elapsed))
	}
	return compose(s.Item, strings.Join(stats, " "), width)
}

// Final renders the line that ends an item: what was moved, in how long,
// at what rate; failed says it did not complete.
func Final(s Status, failed bool, width int) string {
	var b strings.Builder
	if s.Count > 0 {
		fmt.Fprintf(&b, "%d/%d ", s.Index, s.Count)
	}
	switch {
	case failed:
		fmt.Fprintf(&b, "FAILED after %s in %s", humanBytes(s.Done), clock(s.Elapsed))
	default:
		verb := s.Verb
		if verb == "" {
			verb = "done"
		}
		fmt.Fprintf(&b, "%s %s in %s", verb, humanBytes(s.Done), clock(s.Elapsed))
		if r, ok := s.rate(); ok {
			fmt.Fprintf(&b, ", %s/s", humanBytes(int64(r)))
		}
	}
	return compose(s.Item, b.String(), width)
}

// compose joins the item's name and stats into width-1 columns: the name
// gives way first (cut in the middle, keeping the snapshot at its end),
// the stats only when the name is gone.
func compose(it Item, stats string, width int) string {
	if width <= 0 {
		width = Width
	}
	max := width - 1
	name := printable(it.Target)
	if it.Subvolume != "" || it.Snapshot != "" {
		where := printable(it.Subvolume)
		if it.Snapshot != "" {
			where += "/" + printable(it.Snapshot)
		}
		name = strings.TrimSpace(name + " " + where)
	}
	room := max - utf8.RuneCountInString(stats) - 2
	switch {
	case name == "":
		return cut(stats, max)
	case room >= minName:
		return cut(name, room) + "  " + stats
	default:
		return cut(stats, max)
	}
}

// minName is the fewest columns the name is shown in.
const minName = 8

// cut shortens s to n columns, with "…" in the middle (names differ at
// their ends: the snapshot's time).
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:max(n, 0)])
	}
	head := (n - 1) / 3
	tail := n - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// printable replaces what a terminal would act on (control characters,
// escape sequences) with "?".
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// percent is done of total (0 <= done <= total, total > 0), 100 only
// when done is total.
func percent(done, total int64) int {
	if done >= total {
		return 100
	}
	return min(int(float64(done)/float64(total)*100), 99)
}

func humanBytes(n int64) string { return human.Short(uint64(max(n, 0))) }

// maxClock is the longest time shown; beyond it the line says ">99:59:59".
const maxClock = 100*time.Hour - time.Second

// clock formats d as m:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d >= maxClock {
		return ">99:59:59"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Rate formats n bytes moved in seconds for a log line ("12.3 MB/s";
// "-" when no time passed), the same in every command's journal.
func Rate(n int64, seconds float64) string {
	if seconds <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB/s", float64(n)/seconds/1e6)
}
