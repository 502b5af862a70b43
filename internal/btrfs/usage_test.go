package btrfs

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadUsage reads a sysfs tree copied from a loop-mounted btrfs holding
// 50 MiB of data; testdata/usage-b.txt is `btrfs filesystem usage -b` of the
// same filesystem at the same moment.
func TestReadUsage(t *testing.T) {
	got, err := readUsage("testdata/sysfs/fs/btrfs/4e27972f-3d9e-4898-93a8-2b2900df44d8")
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{
		Size:          2147483648,
		Allocated:     457965568,
		Unallocated:   1689518080,
		Used:          52887552,
		FreeEstimate:  1863581696,
		GlobalReserve: 5767168,
		Data: Allocation{Total: 226492416, Used: 52428800, DiskTotal: 226492416, DiskUsed: 52428800,
			Profiles: []Profile{{Name: "single", Total: 226492416, Used: 52428800}}},
		Metadata: Allocation{Total: 107347968, Used: 212992, DiskTotal: 214695936, DiskUsed: 425984,
			Profiles: []Profile{{Name: "dup", Total: 107347968, Used: 212992}}},
		System: Allocation{Total: 8388608, Used: 16384, DiskTotal: 16777216, DiskUsed: 32768,
			Profiles: []Profile{{Name: "dup", Total: 8388608, Used: 16384}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("readUsage(testdata/sysfs) (-want +got):\n%s", diff)
	}
	if r := got.Metadata.Ratio(); r != 2 {
		t.Errorf("Metadata.Ratio() = %v, want 2", r)
	}

	progs, err := os.ReadFile("testdata/usage-b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ParseProgsUsage(t, string(progs)), ProgsView(got)); diff != "" {
		t.Errorf("readUsage(testdata/sysfs) differs from btrfs filesystem usage -b (-progs +ours):\n%s", diff)
	}
}

func TestReadUsageMissing(t *testing.T) {
	if u, err := readUsage(t.TempDir()); err == nil {
		t.Errorf("readUsage(empty dir) = %+v, want an error", u)
	}
}
