package metrics

import (
	"strings"
	"time"
)

// timeLayout is the UTC time of snapshot and archive names (DESIGN §6).
const timeLayout = "20060102T150405Z"

// ParseSnapshotName parses "<YYYYMMDDTHHMMSSZ>" (timeline) or
// "<YYYYMMDDTHHMMSSZ>-<label>" (manual).
func ParseSnapshotName(name string) (t time.Time, label string, ok bool) {
	if len(name) < len(timeLayout) {
		return time.Time{}, "", false
	}
	t, err := time.Parse(timeLayout, name[:len(timeLayout)])
	if err != nil {
		return time.Time{}, "", false
	}
	rest := name[len(timeLayout):]
	if rest == "" {
		return t, "", true
	}
	label, ok = strings.CutPrefix(rest, "-")
	if !ok || label == "" {
		return time.Time{}, "", false
	}
	return t, label, true
}

// ParseArchiveName parses "<YYYYMMDDTHHMMSSZ>-<8 hex of the boot id>" with an
// optional "-<n>" suffix.
func ParseArchiveName(name string) (time.Time, bool) {
	t, rest, ok := ParseSnapshotName(name)
	if !ok {
		return time.Time{}, false
	}
	boot, n, _ := strings.Cut(rest, "-")
	if len(boot) != 8 || strings.Trim(boot, "0123456789abcdef") != "" {
		return time.Time{}, false
	}
	if n != "" && (strings.Trim(n, "0123456789") != "" || n[0] == '0') {
		return time.Time{}, false
	}
	return t, true
}

// span is the count and the time range of a set of names.
type span struct {
	n              int
	oldest, newest time.Time
}

func (s *span) add(t time.Time) {
	if s.n == 0 || t.Before(s.oldest) {
		s.oldest = t
	}
	if s.n == 0 || t.After(s.newest) {
		s.newest = t
	}
	s.n++
}
