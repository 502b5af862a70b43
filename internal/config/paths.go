package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkAbsPath checks an absolute, normalized path: a persisted path or a
// mountpoint. It returns a description of the problem, or "".
func checkAbsPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q is not an absolute path", p)
	}
	if msg := checkChars(p); msg != "" {
		return msg
	}
	if p == "/" {
		return ""
	}
	if strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Sprintf("%q is not normalized (no trailing or double slashes)", p)
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == ".." || c == "." {
			return fmt.Sprintf("%q contains %q; write the normalized path", p, c)
		}
		if len(c) > 255 {
			return fmt.Sprintf("%q has a component longer than 255 bytes", p)
		}
	}
	return ""
}

// checkRelPath checks a path relative to the top-level subvolume: a
// subvolume name, a blank, the archive or snapshots dir.
func checkRelPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q must be relative to the top-level subvolume, without a leading /", p)
	}
	if msg := checkChars(p); msg != "" {
		return msg
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "..":
			return fmt.Sprintf("%q contains \"..\"", p)
		case c == "." || c == "":
			return fmt.Sprintf("%q is not normalized (empty or \".\" component)", p)
		case len(c) > 255:
			return fmt.Sprintf("%q has a component longer than 255 bytes", p)
		}
	}
	return ""
}

func checkChars(p string) string {
	if !utf8.ValidString(p) {
		return fmt.Sprintf("%q is not valid UTF-8", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			if r == '\n' {
				return fmt.Sprintf("%q contains a newline", p)
			}
			return fmt.Sprintf("%q contains a control character", p)
		}
	}
	return ""
}

// under reports whether path p is dir or lies below it.
func under(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// below reports whether p lies strictly below dir.
func below(p, dir string) bool { return p != dir && under(p, dir) }
