package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// ReadEffective is Effective with the mode's drop-in read from path (the
// file name under a re-rooted tree), named file in the sources. The
// overrides are in the result even when the drop-in cannot be read or
// parsed; the error says why its entries are not.
func ReadEffective(path, file string, overrides []Override) ([]Setting, error) {
	var entries []Entry
	data, err := os.ReadFile(path)
	if err == nil {
		entries, err = Parse(bytes.NewReader(data), file)
	}
	return Effective(entries, file, overrides), err
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
	// Was is the kernel's value before, as it prints it (trimmed); ""
	// when it could not be read (a write-only parameter).
	Was string
	// Changed is true when the value was written: it differed from Was,
	// or Was could not be read. A dry run writes nothing and says what it
	// would change.
	Changed bool
	Err     error
}

// Apply writes each setting below procSys (/proc/sys), as systemd-sysctl
// does, where the kernel's value differs (compared integer by integer:
// the kernel separates a list with tabs), and returns one result per
// setting: a key the kernel lacks is Missing, a value it refuses an Err;
// the other settings are still applied. With dryRun nothing is written.
// A key that is not ValidKey is an Err, never a path.
func Apply(procSys string, settings []Setting, dryRun bool) []Result {
	out := make([]Result, 0, len(settings))
	for _, s := range settings {
		out = append(out, apply(procSys, s, dryRun))
	}
	return out
}

func apply(procSys string, s Setting, dryRun bool) Result {
	r := Result{Setting: s}
	if !ValidKey(s.Key) {
		r.Err = fmt.Errorf("set sysctl %q: not a kernel parameter name", s.Key)
		return r
	}
	p := filepath.Join(procSys, ProcPath(s.Key))
	if missing(p) {
		r.Missing = true
		return r
	}
	if b, err := os.ReadFile(p); err == nil {
		r.Was = strings.TrimSpace(string(b))
		if slices.Equal(strings.Fields(r.Was), strings.Fields(s.Value)) {
			return r
		}
	}
	r.Changed = true
	if dryRun {
		return r
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
	switch {
	case err != nil && isMissing(err):
		r.Missing, r.Changed = true, false
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
	if r.Err != nil {
		r.Changed = false
	}
	return r
}

// missing reports whether the kernel has no parameter at p: nothing there,
// or a parameter's file where a directory would be.
func missing(p string) bool {
	_, err := os.Lstat(p)
	return err != nil && isMissing(err)
}

func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Exists reports whether the kernel below procSys has key.
func Exists(procSys, key string) bool {
	fi, err := os.Stat(filepath.Join(procSys, ProcPath(key)))
	return err == nil && fi.Mode().IsRegular()
}
