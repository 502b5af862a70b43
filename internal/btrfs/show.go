package btrfs

import (
	"strings"
	"sync"
)

// detached maps the path of each top level MountTopLevel mounted (and has
// not unmounted) to its device: the process's own descriptors, which no
// other process can name.
var detached sync.Map // path → device

// ShowPath returns path as an operator reads it: a path below a detached
// top level (/proc/<pid>/fd/<n>/..., which names nothing outside this
// process and nothing once it ends) as <device>:/<path in the top level>,
// e.g. /dev/vda2:/old_roots/.restore-request.json; any other path as it
// is. The operations keep the descriptor's path; only messages use this.
func ShowPath(path string) string {
	out := path
	detached.Range(func(k, v any) bool {
		top, dev := k.(string), v.(string)
		switch {
		case path == top:
			out = dev + ":/"
		case strings.HasPrefix(path, top+"/"):
			out = dev + ":" + path[len(top):]
		default:
			return true
		}
		return false
	})
	return out
}

// ShowErr returns err with every path below a detached top level in its
// message shown as ShowPath shows it; errors.Is and errors.As see err as
// before. nil stays nil.
func ShowErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	shown := ShowText(msg)
	if shown == msg {
		return err
	}
	return shownError{msg: shown, err: err}
}

// ShowText returns s, any text (a message, a log line, a report), with
// every path below a detached top level in it shown as ShowPath shows it.
func ShowText(s string) string {
	if !strings.Contains(s, "/proc/") {
		return s
	}
	detached.Range(func(k, v any) bool {
		top, dev := k.(string), v.(string)
		s = replaceTop(s, top, dev)
		return true
	})
	return s
}

// replaceTop replaces top in s where it stands as a whole path or a path's
// first components (followed by "/" or by no further path character).
func replaceTop(s, top, dev string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, top)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+len(top):]
		switch {
		case strings.HasPrefix(rest, "/"):
			b.WriteString(dev + ":")
		case rest == "" || !isPathByte(rest[0]):
			b.WriteString(dev + ":/")
		default: // /proc/1/fd/3 within /proc/1/fd/31: not this top level
			b.WriteString(top)
		}
		s = rest
	}
}

func isPathByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_' || c == '-'
}

// shownError is an error whose message shows its paths to an operator.
type shownError struct {
	msg string
	err error
}

func (e shownError) Error() string { return e.msg }
func (e shownError) Unwrap() error { return e.err }

// Below returns the device of the detached top level (MountTopLevel) that
// path lies below and path's place in that top level ("/" for the top
// level itself); ok is false for any other path. A program given such a
// path can follow it but not resolve it: realpath(3) reads the descriptor's
// link back as "/" (the detached mount is no part of the mount tree).
func Below(path string) (device, rel string, ok bool) {
	detached.Range(func(k, v any) bool {
		top, dev := k.(string), v.(string)
		switch {
		case path == top:
			device, rel, ok = dev, "/", true
		case strings.HasPrefix(path, top+"/"):
			device, rel, ok = dev, path[len(top):], true
		default:
			return true
		}
		return false
	})
	return device, rel, ok
}
