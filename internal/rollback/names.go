package rollback

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// TimeFormat is the archive name's time: UTC, ISO 8601 basic format.
const TimeFormat = "20060102T150405Z"

// NewSuffix marks the subvolume being built next to an ephemeral subvolume.
const NewSuffix = ".new"

var archiveName = regexp.MustCompile(`^([0-9]{8}T[0-9]{6}Z)-([0-9a-f]{8})(?:-([0-9]+))?$`)

// ArchiveName returns the first name "<time>-<bootID>", "<time>-<bootID>-2",
// … for which taken is false.
func ArchiveName(t time.Time, bootID string, taken func(string) bool) string {
	base := t.UTC().Format(TimeFormat) + "-" + bootID
	name := base
	for n := 2; taken(name); n++ {
		name = fmt.Sprintf("%s-%d", base, n)
	}
	return name
}

// ParseArchiveName returns the time in an archive name; ok is false for a
// name this tool did not make.
func ParseArchiveName(name string) (t time.Time, ok bool) {
	m := archiveName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, false
	}
	if m[3] != "" {
		if n, err := strconv.Atoi(m[3]); err != nil || n < 2 {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(TimeFormat, m[1])
	return t, err == nil
}
