// Package names is the one definition of every name the suite gives a
// subvolume or a file on the btrfs filesystem, and of how a reader tells its
// own names from anybody else's:
//
//   - snapshots: <YYYYMMDDTHHMMSSZ> (timeline) or <YYYYMMDDTHHMMSSZ>-<label>
//     (manual), in <snapshots dir>/<subvolume>/, with the sidecar
//     .<name>.json of a manual snapshot with an expiry next to it;
//   - archives of the rollback: <YYYYMMDDTHHMMSSZ>-<8 lower-case hex of the
//     boot id>[-N], in <archive dir>/<subvolume>/;
//   - the state a restore replaced: <YYYYMMDDTHHMMSSZ>-replaced[-N], in the
//     archive dir too (never an archive, so never pruned);
//   - subvolumes being built next to the one they become: S.new (rollback),
//     S.provisioning (provision), S.restore (restore);
//   - a path a restore kept aside: <path>.pre-restore-<YYYYMMDDTHHMMSSZ>[-N];
//   - former blanks: <blank>.<YYYYMMDDTHHMMSSZ>.
//
// Times are UTC in the ISO 8601 basic format (TimeLayout). A name is the
// suite's only when it is exactly what the writer makes: a parser accepts a
// string only if formatting what it parsed gives that string back, so there
// is one spelling of every name (no "-02" for "-2", no "-1", no upper-case
// hex, no 61st second, no 30 February). N, the counter that makes a name
// unique, starts at 2 ("-1" is never written).
//
// It imports only the standard library (boot path).
package names

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is the time in every name: UTC, ISO 8601 basic format, to the
// second.
const TimeLayout = "20060102T150405Z"

// Suffixes of a subvolume being built next to the subvolume S it becomes.
const (
	NewSuffix          = ".new"          // the rollback's new state of an ephemeral S
	ProvisioningSuffix = ".provisioning" // what provision is still building
	RestoreSuffix      = ".restore"      // a restore's writable copy of a snapshot
)

// Labels the suite itself gives.
const (
	// PreRestoreLabel is the manual snapshot that keeps the state a restore
	// replaced, and the mark of a path a restore kept aside.
	PreRestoreLabel = "pre-restore"
	// ReplacedLabel names the subvolume a restore replaced, kept in the
	// archive dir: <time>-replaced[-N].
	ReplacedLabel = "replaced"
)

// MaxLabel is the longest label.
const MaxLabel = 64

// BootIDLen is the number of hex digits of the boot id in an archive name.
const BootIDLen = 8

// Time returns t as it appears in a name.
func Time(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses the time of a name; ok is false unless s is exactly what
// Time returns for some time. By hand, not time.Parse and a Time to compare:
// a listing parses every snapshot's name, and this is a tenth of the cost.
func ParseTime(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) {
		return time.Time{}, false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case i == 8 && c == 'T', i == 15 && c == 'Z':
		case i != 8 && i != 15 && c >= '0' && c <= '9':
		default:
			return time.Time{}, false
		}
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), time.Month(num(4, 2)), num(6, 2)
	hour, minute, sec := num(9, 2), num(11, 2), num(13, 2)
	if month < time.January || month > time.December || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 30 February became 2 March
		return time.Time{}, false
	}
	return t, true
}

// cutTime splits a name into its leading time and the rest.
func cutTime(name string) (time.Time, string, bool) {
	if len(name) < len(TimeLayout) {
		return time.Time{}, "", false
	}
	t, ok := ParseTime(name[:len(TimeLayout)])
	return t, name[len(TimeLayout):], ok
}

// ValidLabel reports whether label is a label: 1 to 64 of A-Z a-z 0-9 _ . + -,
// starting with a letter or a digit.
func ValidLabel(label string) bool {
	if label == "" || len(label) > MaxLabel || !alnum(label[0]) {
		return false
	}
	for i := 1; i < len(label); i++ {
		if c := label[i]; !alnum(c) && !strings.ContainsRune("_.+-", rune(c)) {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// CheckLabel validates a label an operator gives (--label).
func CheckLabel(label string) error {
	if !ValidLabel(label) {
		return fmt.Errorf("invalid label %q: use 1 to %d letters, digits, '_', '.', '+' or '-', starting with a letter or digit", label, MaxLabel)
	}
	return nil
}

// Snapshot returns the snapshot name for t and label ("" for a timeline
// snapshot): "<YYYYMMDDTHHMMSSZ>" or "<YYYYMMDDTHHMMSSZ>-<label>". label
// must be valid (CheckLabel).
func Snapshot(t time.Time, label string) string {
	if label == "" {
		return Time(t)
	}
	return Time(t) + "-" + label
}

// ParseSnapshot returns the time and label ("" for a timeline snapshot) of a
// snapshot name; ok is false for a name the suite did not make.
func ParseSnapshot(name string) (t time.Time, label string, ok bool) {
	t, rest, ok := cutTime(name)
	if !ok {
		return time.Time{}, "", false
	}
	if rest == "" {
		return t, "", true
	}
	label, ok = strings.CutPrefix(rest, "-")
	if !ok || !ValidLabel(label) {
		return time.Time{}, "", false
	}
	return t, label, true
}

// Sidecar returns the name of the sidecar of the snapshot called name (the
// expiry of a manual snapshot): ".<name>.json", in the same directory.
func Sidecar(name string) string { return "." + name + ".json" }

// ValidBootID reports whether id is the boot id part of an archive name:
// 8 lower-case hex digits.
func ValidBootID(id string) bool {
	if len(id) != BootIDLen {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// BootID returns the boot id part of an archive name from the kernel's boot
// id (/proc/sys/kernel/random/boot_id, a UUID): its first 8 hex digits, in
// lower case; ok is false when it has none.
func BootID(kernel string) (string, bool) {
	id := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(kernel), "-", ""))
	if len(id) < BootIDLen || !ValidBootID(id[:BootIDLen]) {
		return "", false
	}
	return id[:BootIDLen], true
}

// Archive returns the archive name "<time>-<bootID>", with "-<n>" for n ≥ 2
// (n 0 or 1 is none).
func Archive(t time.Time, bootID string, n int) string {
	return counted(Time(t)+"-"+bootID, n)
}

// ParseArchive returns the time, boot id and counter (0 for none) of an
// archive name; ok is false for a name the rollback did not make.
func ParseArchive(name string) (t time.Time, bootID string, n int, ok bool) {
	t, rest, ok := cutTime(name)
	if !ok || !strings.HasPrefix(rest, "-") || len(rest) < 1+BootIDLen {
		return time.Time{}, "", 0, false
	}
	bootID, rest = rest[1:1+BootIDLen], rest[1+BootIDLen:]
	if !ValidBootID(bootID) {
		return time.Time{}, "", 0, false
	}
	if n, ok = parseCounter(rest); !ok {
		return time.Time{}, "", 0, false
	}
	return t, bootID, n, true
}

// Replaced returns the name of the subvolume a restore replaced:
// "<time>-replaced", with "-<n>" for n ≥ 2.
func Replaced(t time.Time, n int) string {
	return counted(Snapshot(t, ReplacedLabel), n)
}

// ParseReplaced returns the time and counter of a Replaced name.
func ParseReplaced(name string) (t time.Time, n int, ok bool) {
	t, rest, ok := cutTime(name)
	if !ok {
		return time.Time{}, 0, false
	}
	rest, ok = strings.CutPrefix(rest, "-"+ReplacedLabel)
	if !ok {
		return time.Time{}, 0, false
	}
	if n, ok = parseCounter(rest); !ok {
		return time.Time{}, 0, false
	}
	return t, n, true
}

// Aside returns the name under which a restore keeps the path p it
// replaced: "<p>.pre-restore-<time>", with "-<n>" for n ≥ 2.
func Aside(p string, t time.Time, n int) string {
	return counted(p+"."+PreRestoreLabel+"-"+Time(t), n)
}

// BlankHistory returns the name of a former blank of blank replaced at t:
// "<blank>.<YYYYMMDDTHHMMSSZ>".
func BlankHistory(blank string, t time.Time) string { return blank + "." + Time(t) }

// ParseBlankHistory returns the blank and the time of a BlankHistory name;
// ok is false for anything else.
func ParseBlankHistory(name string) (blank string, t time.Time, ok bool) {
	i := len(name) - len(TimeLayout) - 1
	if i <= 0 || name[i] != '.' || strings.HasSuffix(name[:i], "/") {
		return "", time.Time{}, false
	}
	if t, ok = ParseTime(name[i+1:]); !ok {
		return "", time.Time{}, false
	}
	return name[:i], t, true
}

// Free returns name(0) if taken says it is free, else name(n) for the first
// n ≥ 2 that is: the counter of every name with a "-N".
func Free(name func(n int) string, taken func(string) bool) string {
	s := name(0)
	for n := 2; taken(s); n++ {
		s = name(n)
	}
	return s
}

// counted appends the counter n to base when n ≥ 2.
func counted(base string, n int) string {
	if n < 2 {
		return base
	}
	return base + "-" + strconv.Itoa(n)
}

// parseCounter parses "" (no counter, 0) or "-<n>" with n ≥ 2 written
// without leading zeros.
func parseCounter(s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	d, ok := strings.CutPrefix(s, "-")
	if !ok || d == "" || d[0] < '1' || d[0] > '9' {
		return 0, false
	}
	for i := range len(d) {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(d)
	if err != nil || n < 2 {
		return 0, false
	}
	return n, true
}
