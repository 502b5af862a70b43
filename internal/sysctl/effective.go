package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
)

// Override is one key the configuration sets, with where it is set (for
// example "/etc/server-impermanence/config.toml:12:1").
type Override struct {
	Key, Value, Source string
}

// Setting is one key of the effective set: its value and where the value
// comes from; Replaces is the source it overrides, if any.
type Setting struct {
	Key, Value, Source string
	Replaces           string `json:",omitempty"`
}

// Effective is what a boot applies: the mode's drop-in (entries, read from
// file) in its order, each key the configuration sets replacing the mode's
// value in place or appended after them, a later override of the same key
// winning.
func Effective(mode []Entry, file string, overrides []Override) []Setting {
	var out []Setting
	at := map[string]int{}
	set := func(s Setting) {
		if i, ok := at[s.Key]; ok {
			s.Replaces = out[i].Source
			out[i] = s
			return
		}
		at[s.Key] = len(out)
		out = append(out, s)
	}
	for _, e := range mode {
		set(Setting{Key: e.Key, Value: e.Value, Source: fmt.Sprintf("%s:%d", file, e.Line)})
	}
	for _, o := range overrides {
		set(Setting{Key: Normalize(o.Key), Value: o.Value, Source: o.Source})
	}
	return out
}

// keyRE is a key as sysctl.d(5) writes it: names of letters, digits and
// _-@:+ (network interface names; not starting with '-', which sysctl.d
// reads as "ignore failure") separated by dots or slashes.
var keyRE = regexp.MustCompile(`^[A-Za-z0-9_@:+][A-Za-z0-9_@:+-]*([./][A-Za-z0-9_@:+][A-Za-z0-9_@:+-]*)+$`)

// ValidKey reports whether key has the syntax of a kernel parameter
// ("vm.dirty_ratio"): at least two names, no globs, no "..".
func ValidKey(key string) bool {
	return keyRE.MatchString(key)
}

// Result is what applying one setting did.
type Result struct {
	Setting
	// Missing is true when the kernel has no such parameter: nothing was
	// written (a warning, not a failure).
	Missing bool
	Err     error
}

// Apply writes each setting below procSys (/proc/sys), as systemd-sysctl
// does, and returns one result per setting: a key the kernel lacks is
// Missing, a value it refuses an Err; the other settings are still applied.
func Apply(procSys string, settings []Setting) []Result {
	out := make([]Result, 0, len(settings))
	for _, s := range settings {
		r := Result{Setting: s}
		p := filepath.Join(procSys, ProcPath(s.Key))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.Missing = true
		case err != nil:
			r.Err = fmt.Errorf("set sysctl %s: %w", s.Key, err)
		default:
			_, err = f.WriteString(s.Value + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				r.Err = fmt.Errorf("set sysctl %s = %s: %w", s.Key, s.Value, err)
			}
		}
		out = append(out, r)
	}
	return out
}

// Exists reports whether the kernel below procSys has key.
func Exists(procSys, key string) bool {
	fi, err := os.Stat(filepath.Join(procSys, ProcPath(key)))
	return err == nil && fi.Mode().IsRegular()
}
