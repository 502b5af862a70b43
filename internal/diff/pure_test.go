package diff

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
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
