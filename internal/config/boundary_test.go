package config

import (
	"strings"
	"testing"
)

// The boundaries of single-value checks that make mutation found
// untested: each check at its longest accepted value and one past it, and
// each alternative of an "or" on its own.

func TestCheckLengths(t *testing.T) {
	key := "vm." + strings.Repeat("a", MaxSysctlKey-3)
	name := strings.Repeat("a", MaxTargetName)
	for _, tc := range []struct {
		what, got, want string
	}{
		{"sysctl key of MaxSysctlKey bytes", checkSysctlKey(key), ""},
		{"sysctl key one longer", checkSysctlKey(key + "a"), "kernel parameter name longer than 255 bytes"},
		{"target name of MaxTargetName bytes", checkTargetName(name), ""},
		{"target name one longer", checkTargetName(name + "a"), `target name "` + name + `a" is longer than 64 bytes`},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}

// TestCheckSysctlKeySeparators: every empty name between separators is
// refused on its own, not only "..".
func TestCheckSysctlKeySeparators(t *testing.T) {
	for _, k := range []string{"net..core", "net//core", "net./core", "net/.core"} {
		want := `kernel parameter "` + k + `": an empty name between separators (no "..": the key is a path below /proc/sys)`
		if got := checkSysctlKey(k); got != want {
			t.Errorf("checkSysctlKey(%q) = %q, want %q", k, got, want)
		}
	}
}

// TestParseSSHAlternatives: each refusal of an SSH URL on its own.
func TestParseSSHAlternatives(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"ssh://@backup1/srv", `"ssh://@backup1/srv" names no user (ssh://user@host/path)`},
		{"ssh://ab$c@backup1/srv", `"ssh://ab$c@backup1/srv": "ab$c" is not a valid user name`},
		{"ssh://web$@backup1/srv", `"ssh://web$@backup1/srv": "web$" is not a valid user name`}, // the pattern's trailing $ is refused here
		{"ssh://u@backup1/srv?x=1", `"ssh://u@backup1/srv?x=1": a target URL has no query or fragment`},
		{"ssh://u@backup1/srv#x", `"ssh://u@backup1/srv#x": a target URL has no query or fragment`},
	} {
		if _, got := parseSSH(tc.url); got != tc.want {
			t.Errorf("parseSSH(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// TestValidateBoundaries: a usage filter at 100 and at 101; a blank that
// is another configured subvolume, the subvolume itself or the snapshots
// subvolume, each on its own.
func TestValidateBoundaries(t *testing.T) {
	const base = `device = "/dev/disk/by-label/x"
[[subvolume]]
name = "@root"
mountpoint = "/"
class = "ephemeral"
blank = %s
[[subvolume]]
name = "@persist"
mountpoint = "/persist"
`
	for _, tc := range []struct {
		blank, extra, want string
	}{
		{`"@root-blank"`, "", ""},
		{`"@root-blank"`, "[maintenance]\nbalance_data_usage = [5, 100]\n", ""},
		{`"@root-blank"`, "[maintenance]\nbalance_data_usage = [5, 101]\n",
			"c.toml:11:1: maintenance.balance_data_usage: usage filter 101 is not a percentage (0..100)"},
		{`"@persist"`, "", `c.toml:6:1: subvolume[0].blank: blank "@persist" is a configured subvolume; the blank must be a separate read-only snapshot`},
		{`"@root"`, "", `c.toml:6:1: subvolume[0].blank: blank "@root" is a configured subvolume; the blank must be a separate read-only snapshot`},
		{`"@snapshots"`, "", `c.toml:6:1: subvolume[0].blank: blank "@snapshots" is the snapshots subvolume`},
	} {
		text := strings.Replace(base, "%s", tc.blank, 1) + tc.extra
		_, err := Parse(Source{Name: "c.toml", Data: []byte(text)})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("blank = %s, %q: error %q, want %q", tc.blank, tc.extra, got, tc.want)
		}
	}
}
