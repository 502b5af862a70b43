package sysctl_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []sysctl.Entry
		err      string
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blanks", in: "# a\n; b\n\n   \n  # c\n", want: nil},
		{
			name: "assignments",
			in:   "vm.dirty_ratio = 80\n\tvm/swappiness=1  \n-fs.inotify.max_user_watches =524288\nkernel.domainname = a = b\n",
			want: []sysctl.Entry{
				{Key: "vm.dirty_ratio", Value: "80", Line: 1},
				{Key: "vm.swappiness", Value: "1", Line: 2},
				{Key: "fs.inotify.max_user_watches", Value: "524288", Line: 3, IgnoreFailure: true},
				{Key: "kernel.domainname", Value: "a = b", Line: 4},
			},
		},
		{name: "empty value", in: "kernel.domainname =\n", want: []sysctl.Entry{{Key: "kernel.domainname", Value: "", Line: 1}}},
		{name: "no equals", in: "# x\nvm.swappiness 1\n", err: `parse sysctl file t.conf:2: not key = value: "vm.swappiness 1"`},
		{name: "no key", in: " = 1\n", err: `parse sysctl file t.conf:1: not key = value: "= 1"`},
		{name: "only a dash", in: "- = 1\n", err: `parse sysctl file t.conf:1: not key = value: "- = 1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sysctl.Parse(strings.NewReader(tc.in), "t.conf")
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProcPath(t *testing.T) {
	for in, want := range map[string]string{
		"vm.dirty_ratio":              "vm/dirty_ratio",
		"vm/dirty_ratio":              "vm/dirty_ratio",
		"fs.inotify.max_user_watches": "fs/inotify/max_user_watches",
	} {
		if got := sysctl.ProcPath(in); got != want {
			t.Errorf("ProcPath(%q) = %q, want %q", in, got, want)
		}
	}
}
