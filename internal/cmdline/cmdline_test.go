package cmdline

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for in, want := range map[string][]string{
		"":                       nil,
		"  quiet  splash\n":      {"quiet", "splash"},
		`a="b c" d=e`:            {"a=b c", "d=e"},
		"root=LABEL=x\tro":       {"root=LABEL=x", "ro"},
		`"quoted word" trailing`: {"quoted word", "trailing"},
	} {
		if diff := cmp.Diff(want, []string(Parse(in))); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestRollbackDisabled(t *testing.T) {
	for _, tc := range []struct {
		line         string
		initrd, host bool
	}{
		{"", false, false},
		{Switch + "=0", true, true},
		{Switch + "=off", true, true},
		{Switch + "=1", false, false},
		{Switch + "=0 " + Switch + "=1", false, false}, // the last one wins
		{"rd." + Switch + "=0", true, false},           // rd. counts in the initrd only
		{Switch, false, false},                         // no value is not false
		{Switch + "=maybe", false, false},
	} {
		if got := Parse(tc.line).RollbackDisabled(true); got != tc.initrd {
			t.Errorf("Parse(%q).RollbackDisabled(initrd) = %t, want %t", tc.line, got, tc.initrd)
		}
		if got := Parse(tc.line).RollbackDisabled(false); got != tc.host {
			t.Errorf("Parse(%q).RollbackDisabled(host) = %t, want %t", tc.line, got, tc.host)
		}
	}
}

func TestResumeDevice(t *testing.T) {
	for in, want := range map[string]string{
		"quiet":                   "",
		"resume=UUID=ab-cd":       "/dev/disk/by-uuid/ab-cd",
		"resume=LABEL=a/b":        `/dev/disk/by-label/a\x2fb`,
		"resume=/dev/sda2":        "/dev/sda2",
		"resume= resume=/dev/sdb": "/dev/sdb",
	} {
		if got := Parse(in).ResumeDevice(); got != want {
			t.Errorf("Parse(%q).ResumeDevice() = %q, want %q", in, got, want)
		}
	}
}
