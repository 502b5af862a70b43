package diff

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

func TestMountsBelow(t *testing.T) {
	all := []btrfs.Mount{
		{Mountpoint: "/"}, {Mountpoint: "/proc"}, {Mountpoint: "/srv/root"}, {Mountpoint: "/srv/root/mnt"},
		{Mountpoint: "/srv/rootother"}, {Mountpoint: "/data/x"},
	}
	for _, tc := range []struct {
		name string
		self []btrfs.Mount
		want []string
	}{
		{"root at /", []btrfs.Mount{{Root: "/@root", Mountpoint: "/"}},
			[]string{"/proc", "/srv/root", "/srv/root/mnt", "/srv/rootother", "/data/x"}},
		{"root elsewhere", []btrfs.Mount{{Root: "/@root", Mountpoint: "/srv/root"}}, []string{"/mnt"}},
		{"bind of a directory", []btrfs.Mount{{Root: "/@root/data", Mountpoint: "/data"}}, []string{"/data/x"}},
		{"unknown path", []btrfs.Mount{{Root: "/@rootx", Mountpoint: "/"}}, nil},
	} {
		if got := MountsBelow(all, tc.self, "@root"); !cmp.Equal(got, tc.want) {
			t.Errorf("%s: MountsBelow = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUnder(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		want   bool
	}{
		{"/etc/ssh", "/etc/ssh", true}, {"/etc/ssh/key", "/etc/ssh", true}, {"/etc/sshd", "/etc/ssh", false},
		{"/x", "/", true}, {"/etc", "/etc/ssh", false},
	} {
		if got := Under(tc.p, tc.dir); got != tc.want {
			t.Errorf("Under(%q, %q) = %t, want %t", tc.p, tc.dir, got, tc.want)
		}
	}
}

// TestRunRefusesLockTimeout: diff takes no lock, so it has no --lock-timeout
// to accept and ignore.
func TestRunRefusesLockTimeout(t *testing.T) {
	var out, errs strings.Builder
	env := job.Env{Stdout: &out, Stderr: &errs}
	if code := Run(context.Background(), []string{"--lock-timeout", "1s"}, env); code != job.ExitUsage {
		t.Errorf("Run(--lock-timeout 1s) = %d, want %d (usage)\n%s", code, job.ExitUsage, errs.String())
	}
	errs.Reset()
	if code := Run(context.Background(), []string{"--help"}, env); code != job.ExitOK || strings.Contains(errs.String(), "lock") {
		t.Errorf("Run(--help) = %d, usage mentions a lock = %t; want 0 and no lock:\n%s", code, strings.Contains(errs.String(), "lock"), errs.String())
	}
}
