package btrfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

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
	mounts, err := mountinfo.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MountedSubvolumes(mounts, mountID)
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
		mounts, err := mountinfo.Read(tc.file) // a malformed table fails here
		var got map[uint64][]Mount
		if err == nil {
			got, err = MountedSubvolumes(mounts, tc.mountID)
		}
		if err == nil {
			t.Errorf("MountedSubvolumes(%s, %d) = %v, want an error", tc.file, tc.mountID, got)
		}
	}
}
