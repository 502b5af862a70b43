package mountinfo

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	in := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
44 22 0:45 /old_roots/@root/20261125T204023Z-1a2b3c4d /mnt/old\040root rw,noatime shared:30 - btrfs /dev/sda2 rw,compress=zstd:1,subvolid=258,subvol=/old_roots/@root/20261125T204023Z-1a2b3c4d
50 22 0:52 /@nix /srv/other\011nix rw,noatime shared:31 - btrfs /dev/sdb rw,subvolid=256,subvol=/@nix
51 22 0:53 / /var/lib/other-ext4 rw,relatime shared:32 master:7 - ext4 /dev/sdc\x rw
60 22 0:54 / /run/private ro,nosuid,nodev - tmpfs tmpfs rw,mode=755
`
	got, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{ID: 22, Dev: "254:0", Root: "/", Mountpoint: "/", Options: []string{"rw", "relatime"}, Optional: []string{"shared:1"},
			FSType: "ext4", Source: "/dev/vda"},
		{ID: 44, Dev: "0:45", Root: "/old_roots/@root/20261125T204023Z-1a2b3c4d", Mountpoint: "/mnt/old root",
			Options: []string{"rw", "noatime"}, Optional: []string{"shared:30"}, FSType: "btrfs", Source: "/dev/sda2", SubvolID: 258},
		{ID: 50, Dev: "0:52", Root: "/@nix", Mountpoint: "/srv/other\tnix", Options: []string{"rw", "noatime"}, Optional: []string{"shared:31"},
			FSType: "btrfs", Source: "/dev/sdb", SubvolID: 256},
		{ID: 51, Dev: "0:53", Root: "/", Mountpoint: "/var/lib/other-ext4", Options: []string{"rw", "relatime"},
			Optional: []string{"shared:32", "master:7"}, FSType: "ext4", Source: `/dev/sdc\x`},
		{ID: 60, Dev: "0:54", Root: "/", Mountpoint: "/run/private", Options: []string{"ro", "nosuid", "nodev"}, FSType: "tmpfs", Source: "tmpfs"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestAt(t *testing.T) {
	mounts := []Mount{{ID: 1, Mountpoint: "/"}, {ID: 2, Mountpoint: "/var"}, {ID: 3, Mountpoint: "/"}}
	for _, tc := range []struct {
		mountpoint string
		id         int
		ok         bool
	}{{"/", 3, true}, {"/var", 2, true}, {"/srv", 0, false}} {
		m, ok := At(mounts, tc.mountpoint)
		if m.ID != tc.id || ok != tc.ok {
			t.Errorf("At(%q) = mount %d, %t; want %d, %t", tc.mountpoint, m.ID, ok, tc.id, tc.ok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"40 1 0:45 / /top rw,relatime btrfs /dev/sda2 rw,subvolid=5\n", // no " - "
		"x 1 0:45 / /top rw - btrfs /dev/sda2 rw,subvolid=5\n",
		"40 1 0:45 / /top rw - btrfs /dev/sda2 rw,subvolid=five\n",
		"40 1 0:45 / /top rw -\n",
	} {
		if got, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:           "/plain",
		`/a\040b`:          "/a b",
		`/tab\011nl\012`:   "/tab\tnl\n",
		`/back\134slash`:   `/back\slash`,
		`/short\04`:        `/short\04`,
		`/not\999octal`:    `/not\999octal`,
		`/end\`:            `/end\`,
		`/\303\274ber`:     "/über",
		`/two\040\040sp`:   "/two  sp",
		`/mixed\040x\134y`: `/mixed x\y`,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"rw", []string{"rw"}},
		{"ro,nosuid,noatime", []string{"ro", "nosuid", "noatime"}},
		{`rw,x=a\054b,y=c\040d`, []string{"rw", "x=a,b", "y=c d"}},
	} {
		if got := splitOptions(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitOptions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("22 1 254:0 / / rw - ext4 /dev/vda rw\n"), 0o644)
	os.WriteFile(bad, []byte("22 1 254:0 / / rw\n"), 0o644)
	if m, err := Read(good); err != nil || len(m) != 1 || m[0].Source != "/dev/vda" {
		t.Errorf("Read(good) = %+v, %v; want the one ext4 mount of /dev/vda", m, err)
	}
	for _, p := range []string{bad, filepath.Join(dir, "missing")} {
		if m, err := Read(p); err == nil {
			t.Errorf("Read(%s) = %+v, want an error", filepath.Base(p), m)
		}
	}
}
