package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadUsage reads a sysfs tree copied from a loop-mounted btrfs holding
// 50 MiB of data; testdata/usage-b.txt is `btrfs filesystem usage -b` of the
// same filesystem at the same moment.
func TestReadUsage(t *testing.T) {
	got, err := ReadUsage("testdata/sysfs/fs/btrfs/4e27972f-3d9e-4898-93a8-2b2900df44d8")
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{
		Size:          2147483648,
		Devices:       []DeviceSize{{Name: "loop0", Size: 2147483648}},
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
		t.Errorf("ReadUsage(testdata/sysfs) (-want +got):\n%s", diff)
	}
	if r := got.Metadata.Ratio(); r != 2 {
		t.Errorf("Metadata.Ratio() = %v, want 2", r)
	}

	progs, err := os.ReadFile("testdata/usage-b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ParseProgsUsage(t, string(progs)), ProgsView(got)); diff != "" {
		t.Errorf("ReadUsage(testdata/sysfs) differs from btrfs filesystem usage -b (-progs +ours):\n%s", diff)
	}
}

func TestReadUsageMissing(t *testing.T) {
	if u, err := ReadUsage(t.TempDir()); err == nil {
		t.Errorf("ReadUsage(empty dir) = %+v, want an error", u)
	}
}

// TestReadUsageFreeEstimate pins the free estimate on sysfs trees that no
// loop device gives: the rounding of btrfs-progs with a data ratio that is
// not whole (RAID5 on three devices), and a chunk filled between the reads
// of disk_total and disk_used.
func TestReadUsageFreeEstimate(t *testing.T) {
	const (
		MiB = 1 << 20
		GiB = 1 << 30
	)
	type alloc struct{ total, used, diskTotal, diskUsed uint64 }
	for _, tc := range []struct {
		name    string
		devices []uint64 // sizes in bytes
		data    alloc
		want    uint64
	}{
		{
			// (3 GiB - 1000) free in chunks / 1.5 = 666.67 → 666; 64 MiB
			// unallocated / 1.5 = 44739242.67; 666 + 44739242.67 → 44739908
			// (not 44739909, the sum of the untruncated terms).
			name:    "raid5 ratio 1.5 truncates each term",
			devices: []uint64{(3*GiB + 256*MiB + 16*MiB + 64*MiB) / 3, (3*GiB + 256*MiB + 16*MiB + 64*MiB) / 3, (3*GiB + 256*MiB + 16*MiB + 64*MiB) / 3},
			data:    alloc{total: 2 * GiB, used: 2*GiB - 667, diskTotal: 3 * GiB, diskUsed: 3*GiB - 1000},
			want:    44739908,
		},
		{
			name:    "disk_used read above disk_total",
			devices: []uint64{GiB + 256*MiB + 16*MiB + 64*MiB},
			data:    alloc{total: GiB, used: GiB, diskTotal: GiB, diskUsed: GiB + 4096},
			want:    64 * MiB,
		},
		{
			name:    "unallocated below 16 MiB is not counted",
			devices: []uint64{GiB + 256*MiB + 16*MiB + 8*MiB},
			data:    alloc{total: GiB, used: GiB - 4096, diskTotal: GiB, diskUsed: GiB - 4096},
			want:    4096,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name string, v uint64) {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strconv.FormatUint(v, 10)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for i, size := range tc.devices {
				write(filepath.Join("devices", fmt.Sprintf("sd%c", 'a'+i), "size"), size/512)
			}
			for typ, a := range map[string]alloc{"data": tc.data,
				"metadata": {total: 128 * MiB, used: MiB, diskTotal: 256 * MiB, diskUsed: 2 * MiB},
				"system":   {total: 8 * MiB, used: 16384, diskTotal: 16 * MiB, diskUsed: 32768}} {
				write(filepath.Join("allocation", typ, "total_bytes"), a.total)
				write(filepath.Join("allocation", typ, "bytes_used"), a.used)
				write(filepath.Join("allocation", typ, "disk_total"), a.diskTotal)
				write(filepath.Join("allocation", typ, "disk_used"), a.diskUsed)
			}
			write("allocation/global_rsv_size", 5*MiB)
			write("allocation/global_rsv_reserved", 5*MiB)
			u, err := ReadUsage(dir)
			if err != nil {
				t.Fatal(err)
			}
			if u.FreeEstimate != tc.want {
				t.Errorf("ReadUsage(%s).FreeEstimate = %d, want %d (%+v)", tc.name, u.FreeEstimate, tc.want, u)
			}
		})
	}
}
