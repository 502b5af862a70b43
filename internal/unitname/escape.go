// Package unitname builds systemd unit names from paths exactly as
// systemd-escape --path (systemd 252, unit_name_path_escape) does, and checks
// them as unit_name_is_valid does.
//
// go-systemd's unit.UnitNamePathEscape differs from systemd on inputs that
// matter for mount units: it keeps "." components, escapes bytes below 0x10
// with one hex digit and accepts "..". This package is a standalone
// reimplementation tested against the real systemd-escape binary.
package unitname

import (
	"errors"
	"fmt"
	"strings"
)

// Limits from systemd (PATH_MAX, NAME_MAX, UNIT_NAME_MAX).
const (
	pathMax     = 4096
	nameMax     = 255
	unitNameMax = 256
)

// ErrNotAbsolute, ErrNotNormalized and ErrInvalid are the reasons a path
// cannot become a unit name.
var (
	ErrNotAbsolute   = errors.New("not an absolute path")
	ErrNotNormalized = errors.New("not a normalized path (contains \"..\")")
	ErrInvalid       = errors.New("not a valid path")
)

// PathEscape returns the escaped form of an absolute path, as
// `systemd-escape --path` prints it: "." components and repeated or trailing
// slashes are dropped, "/" alone becomes "-", ".." is refused.
//
// Unlike systemd-escape, which escapes a relative path with a warning,
// PathEscape refuses it: a unit name for a relative path cannot be turned
// back into that path.
func PathEscape(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("escape %q: %w", p, ErrNotAbsolute)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("escape %q: %w (NUL byte)", p, ErrInvalid)
	}
	parts := make([]string, 0, strings.Count(p, "/"))
	n := 0
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "" || c == ".":
			continue
		case c == "..":
			return "", fmt.Errorf("escape %q: %w", p, ErrNotNormalized)
		case len(c) > nameMax:
			return "", fmt.Errorf("escape %q: %w (a component is longer than %d bytes)", p, ErrInvalid, nameMax)
		}
		parts = append(parts, c)
		n += 1 + len(c)
	}
	if len(parts) == 0 {
		return "-", nil
	}
	if n >= pathMax {
		return "", fmt.Errorf("escape %q: %w (longer than %d bytes)", p, ErrInvalid, pathMax-1)
	}
	return escape(strings.Join(parts, "/")), nil
}

// Escape escapes a string as `systemd-escape` (without --path) does for a
// non-empty string: "/" becomes "-", everything but [A-Za-z0-9:_.] (and a
// leading ".") becomes \xNN.
func Escape(s string) string { return escape(s) }

const hex = "0123456789abcdef"

func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c == '.' && i == 0:
			b.WriteString(`\x2e`)
		case validChar(c):
			b.WriteByte(c)
		default:
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

func validChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '.'
}

// FromPath returns the unit name for path with suffix (".mount",
// ".device", ...), as `systemd-escape --path --suffix=...` does. It fails
// when the name would be longer than systemd accepts (255 bytes).
func FromPath(p, suffix string) (string, error) {
	e, err := PathEscape(p)
	if err != nil {
		return "", err
	}
	name := e + suffix
	if len(name) >= unitNameMax {
		return "", fmt.Errorf("unit name for %q: %w (%q is longer than %d bytes)", p, ErrInvalid, name, unitNameMax-1)
	}
	return name, nil
}
