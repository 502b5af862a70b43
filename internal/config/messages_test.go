package config

import (
	"strings"
	"testing"
)

// TestCheckMessagesOneLine: whatever a string holds, the message of its
// row's check is one line of printable text (the value quoted), so an error
// never spans lines nor carries a raw NUL to the terminal or the journal.
func TestCheckMessagesOneLine(t *testing.T) {
	hostile := []string{"a\nb", "a\x00b", "a\rb:1", "\x1b[2J", "a\nb:99"}
	check := func(table, key string, c func(string) string) {
		for _, v := range hostile {
			msg := c(v)
			if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Errorf("%s%s: check(%q) = %q: a control character", table, key, v, msg)
			}
		}
	}
	for _, f := range schema {
		if f.check != nil {
			check("", f.key, f.check)
		}
	}
	for _, f := range subvolumeSchema {
		if f.check != nil {
			check("subvolume.", f.key, f.check)
		}
	}
	for _, f := range persistEntrySchema {
		if f.check != nil {
			check("persist entry.", f.key, f.check)
		}
	}
	for _, f := range []func(string) string{checkPersistPath} {
		check("persisted path", "", f)
	}
}
