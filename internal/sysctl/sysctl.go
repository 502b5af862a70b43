// Package sysctl reads sysctl.d(5) files, the format of the performance
// modes' drop-ins that systemd-sysctl applies.
package sysctl

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Entry is one assignment of a sysctl.d file.
type Entry struct {
	// Key uses dots as separators ("vm.dirty_ratio"), whatever the file used.
	Key   string
	Value string
	// Line is the 1-based line of the assignment.
	Line int
	// IgnoreFailure is a leading "-": systemd-sysctl does not fail when
	// the key cannot be written.
	IgnoreFailure bool
}

// Parse reads a sysctl.d file as systemd-sysctl does: blank lines and lines
// starting with '#' or ';' are comments; every other line is key = value,
// whitespace around both trimmed. A key's separator is '.' or '/' (the
// first of them in the key decides; the other one then stands for itself in
// a name, which no key this suite sets does: both become dots here).
func Parse(r io.Reader, name string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		e := Entry{Value: v, Line: n}
		if strings.HasPrefix(k, "-") {
			e.IgnoreFailure, k = true, strings.TrimSpace(k[1:])
		}
		if !ok || k == "" {
			return nil, fmt.Errorf("parse sysctl file %s:%d: not key = value: %q", name, n, l)
		}
		e.Key = Normalize(k)
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read sysctl file %s: %w", name, err)
	}
	return out, nil
}

// Normalize writes a key with dots: "vm/dirty_ratio" is "vm.dirty_ratio".
func Normalize(key string) string {
	return strings.ReplaceAll(key, "/", ".")
}

// ProcPath is the file of key below /proc/sys ("vm.dirty_ratio" is
// "vm/dirty_ratio").
func ProcPath(key string) string {
	return strings.ReplaceAll(Normalize(key), ".", "/")
}
