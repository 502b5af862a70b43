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

func TestHaltAfter(t *testing.T) {
	for _, tc := range []struct {
		line  string
		want  HaltAfter
		found bool
	}{
		{"quiet", HaltAfter{}, false},
		{HaltAfterKey, HaltAfter{}, false},
		{HaltAfterKey + "=", HaltAfter{}, false},
		{HaltAfterKey + "=3", HaltAfter{Step: "3"}, true},
		{HaltAfterKey + "=exchange,sync", HaltAfter{Step: "exchange", Sync: true}, true},
		{"rd." + HaltAfterKey + "=rename", HaltAfter{Step: "rename"}, true},
	} {
		got, found := Parse(tc.line).HaltAfter(true)
		if got != tc.want || found != tc.found {
			t.Errorf("Parse(%q).HaltAfter() = %+v, %t; want %+v, %t", tc.line, got, found, tc.want, tc.found)
		}
	}
	for _, tc := range []struct {
		step string
		n    int
		desc string
		want bool
	}{
		{"3", 3, "commit", true},
		{"3", 4, "commit", false},
		{"exchange", 5, "exchange @root.new ⇄ @root", true},
		{"exchange", 5, "rename @root.new → old_roots/@root/x", false},
		{"set", 2, "set NoCoW on @var-tmp.new", true},
		{"snap", 1, "snapshot @root-blank → @root.new", false},
	} {
		if got := (HaltAfter{Step: tc.step}).Matches(tc.n, tc.desc); got != tc.want {
			t.Errorf("HaltAfter{%q}.Matches(%d, %q) = %t, want %t", tc.step, tc.n, tc.desc, got, tc.want)
		}
	}
}

func TestBlank(t *testing.T) {
	for _, tc := range []struct {
		line   string
		initrd bool
		want   string
	}{
		{"quiet", true, ""},
		{"server-impermanence.blank=previous", true, "previous"},
		{"server-impermanence.blank=previous server-impermanence.blank=@root-blank.20261201T100000Z", false, "@root-blank.20261201T100000Z"},
		{"rd.server-impermanence.blank=previous", true, "previous"},
		{"rd.server-impermanence.blank=previous", false, ""},
		{`"server-impermanence.blank=a b"`, true, "a b"},
		{"server-impermanence.blank", true, ""},
		{"server-impermanence.blanks=previous", true, ""},
	} {
		if got := Parse(tc.line).Blank(tc.initrd); got != tc.want {
			t.Errorf("Parse(%q).Blank(%t) = %q, want %q", tc.line, tc.initrd, got, tc.want)
		}
	}
}
