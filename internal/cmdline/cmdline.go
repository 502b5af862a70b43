// Package cmdline parses the kernel command line: the one definition of the
// emergency switch server-impermanence.rollback=0 that both the generator
// (which decides what the initrd runs) and the rollback helper (which runs
// there) obey, of the blank a boot resets from (server-impermanence.blank=),
// and of resume=.
package cmdline

import (
	"strconv"
	"strings"
)

// Switch is the kernel command line emergency switch:
// server-impermanence.rollback=0 skips the rollback for one boot (also
// rd.server-impermanence.rollback=0, and any false boolean).
const Switch = "server-impermanence.rollback"

// BlankKey chooses the blank of the root for one boot:
// server-impermanence.blank=previous (the newest former blank) or
// server-impermanence.blank=<name> (a former blank, or the time in its
// name); also rd.server-impermanence.blank=.
const BlankKey = "server-impermanence.blank"

// Blank returns the value of BlankKey, "" when the command line has none
// (or an empty one).
func (c Cmdline) Blank(initrd bool) string {
	v, _ := c.Value(BlankKey, initrd)
	return v
}

// Cmdline is a parsed kernel command line.
type Cmdline []string

// Parse splits a kernel command line into words as the kernel and
// systemd do: whitespace separates, double quotes group.
func Parse(s string) Cmdline {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// Value returns the value of the last key=value for key (systemd's rule:
// the last occurrence wins) and whether the key occurs. In the initrd the
// rd.-prefixed key counts too.
func (c Cmdline) Value(key string, initrd bool) (string, bool) {
	val, found := "", false
	for _, w := range c {
		k, v, hasValue := strings.Cut(w, "=")
		if initrd {
			k = strings.TrimPrefix(k, "rd.")
		}
		if k == key {
			val, found = v, true
			if !hasValue {
				val = ""
			}
		}
	}
	return val, found
}

// parseBool parses a boolean as systemd's parse_boolean does; ok is false
// for anything else.
func parseBool(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// RollbackDisabled reports whether the command line carries
// server-impermanence.rollback=0 (or another false boolean).
func (c Cmdline) RollbackDisabled(initrd bool) bool {
	v, found := c.Value(Switch, initrd)
	if !found {
		return false
	}
	b, ok := parseBool(v)
	return ok && !b
}

// ResumeDevice returns the device path of resume= as systemd's
// hibernate-resume generator names it, or "".
func (c Cmdline) ResumeDevice() string {
	v, found := c.Value("resume", false)
	if !found || v == "" {
		return ""
	}
	return DevicePath(v)
}

// DevicePath turns a fstab-style device spec (UUID=, LABEL=, PARTUUID=,
// PARTLABEL= or a path) into a /dev path, as systemd's fstab_node_to_udev_node
// does (without its escaping of unusual characters in labels).
func DevicePath(spec string) string {
	for _, p := range []struct{ tag, dir string }{
		{"UUID=", "by-uuid"}, {"LABEL=", "by-label"}, {"PARTUUID=", "by-partuuid"}, {"PARTLABEL=", "by-partlabel"},
	} {
		if v, ok := strings.CutPrefix(spec, p.tag); ok {
			return "/dev/disk/" + p.dir + "/" + strings.ReplaceAll(v, "/", `\x2f`)
		}
	}
	return spec
}

// HaltAfterKey is the power-cut test switch of the rollback, in the spirit
// of dracut's rd.break: server-impermanence.debug.halt-after=STEP[,sync]
// makes the rollback stop after STEP (a step number, 1 first, or the first
// step of an operation: snapshot, create, set, exchange, rename, mkdir,
// delete, commit) and wait there until it is killed, so that a test can cut
// the power at a known point (vmtest scenario 6). With ",sync" the
// filesystem is committed first: the state after STEP is then on disk;
// without it the cut loses whatever the kernel had not committed yet, as a
// real one does. Never for production: the boot waits for the setup unit's
// timeout.
const HaltAfterKey = "server-impermanence.debug.halt-after"

// HaltAfter is a parsed HaltAfterKey.
type HaltAfter struct {
	Step string // a step number or an operation
	Sync bool
}

// HaltAfter returns the power-cut test switch, if the command line has one
// with a non-empty step.
func (c Cmdline) HaltAfter(initrd bool) (HaltAfter, bool) {
	v, found := c.Value(HaltAfterKey, initrd)
	if !found {
		return HaltAfter{}, false
	}
	step, opt, _ := strings.Cut(v, ",")
	h := HaltAfter{Step: step, Sync: opt == "sync"}
	return h, h.Step != ""
}

// Matches reports whether the step numbered n (1 first), described as
// desc ("exchange @root.new ⇄ @root"), is the one to halt after.
func (h HaltAfter) Matches(n int, desc string) bool {
	if h.Step == strconv.Itoa(n) {
		return true
	}
	op, _, _ := strings.Cut(desc, " ")
	return op == h.Step
}
