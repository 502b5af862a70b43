package btrfs

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountinfo(t *testing.T) {
	f, err := os.Open("testdata/mountinfo.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Fatalf("ParseMountinfo(testdata/mountinfo.txt) = %d mounts, want 12", len(got))
	}
	want := map[int]Mount{
		22: {ID: 22, Dev: "254:0", Root: "/", Mountpoint: "/", FSType: "ext4", Source: "/dev/vda"},
		44: {ID: 44, Dev: "0:45", Root: "/old_roots/@root/20261125T204023Z-1a2b3c4d", Mountpoint: "/mnt/old root",
			FSType: "btrfs", Source: "/dev/sda2", SubvolID: 258},
		50: {ID: 50, Dev: "0:52", Root: "/@nix", Mountpoint: "/srv/other\tnix", FSType: "btrfs", Source: "/dev/sdb", SubvolID: 256},
		51: {ID: 51, Dev: "0:53", Root: "/", Mountpoint: "/var/lib/other-ext4", FSType: "ext4", Source: `/dev/sdc\x`},
	}
	for _, m := range got {
		if w, ok := want[m.ID]; ok {
			if diff := cmp.Diff(w, m); diff != "" {
				t.Errorf("mount %d (-want +got):\n%s", m.ID, diff)
			}
		}
	}
}

func TestMountedSubvolumes(t *testing.T) {
	// Mount point per subvolume id; "//deleted" and the bind mount of a
	// directory inside @persist count too, the other btrfs (0:52) not.
	want := map[uint64][]string{
		5:   {"/run/server-impermanence/top"},
		256: {"/nix"},
		257: {"/persist", "/etc/ssh"},
		258: {"/mnt/old root"},
		259: {"/mnt/gone"},
	}
	for _, tc := range []struct {
		name    string
		mountID int
	}{
		{"from the top-level mount", 40},
		{"from a subvolume mount", 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mountedFixture(t, "testdata/mountinfo.txt", tc.mountID)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MountedSubvolumes(testdata/mountinfo.txt, %d) (-want +got):\n%s", tc.mountID, diff)
			}
		})
	}
	t.Run("the other filesystem", func(t *testing.T) {
		got := mountedFixture(t, "testdata/mountinfo.txt", 50)
		if diff := cmp.Diff(map[uint64][]string{256: {"/srv/other\tnix"}}, got); diff != "" {
			t.Errorf("MountedSubvolumes(testdata/mountinfo.txt, 50) (-want +got):\n%s", diff)
		}
	})
}

func mountedFixture(t *testing.T, path string, mountID int) map[uint64][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := MountedSubvolumes(f, mountID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64][]string{}
	for id, mounts := range m {
		for _, mnt := range mounts {
			got[id] = append(got[id], mnt.Mountpoint)
		}
	}
	return got
}

func TestMountedSubvolumesErrors(t *testing.T) {
	for _, tc := range []struct {
		file    string
		mountID int
	}{
		{"testdata/mountinfo.txt", 99},            // our mount is not there
		{"testdata/mountinfo.txt", 22},            // not btrfs
		{"testdata/mountinfo-nosubvolid.txt", 40}, // cannot tell which subvolume is mounted
		{"testdata/mountinfo-malformed.txt", 40},  // fail closed
	} {
		f, err := os.Open(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MountedSubvolumes(f, tc.mountID)
		f.Close()
		if err == nil {
			t.Errorf("MountedSubvolumes(%s, %d) = %v, want an error", tc.file, tc.mountID, got)
		}
	}
}
