package btrfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Usage is the space accounting of a filesystem, read from sysfs
// (/sys/fs/btrfs/<fsid>), which needs no privileges.
type Usage struct {
	Size              uint64       // sum of the sizes of the block devices
	Devices           []DeviceSize // the member devices, by name
	Allocated         uint64       // raw bytes allocated to chunks, every copy counted
	Unallocated       uint64       // Size - Allocated
	Used              uint64       // raw bytes used, every copy counted
	FreeEstimate      uint64       // data bytes still writable, as "Free (estimated)" of `btrfs filesystem usage`
	GlobalReserve     uint64
	GlobalReserveUsed uint64
	Data              Allocation
	Metadata          Allocation
	System            Allocation
}

// Allocation is the space of one block group type.
type Allocation struct {
	Total     uint64 // logical bytes in chunks of this type
	Used      uint64 // logical bytes used in them
	DiskTotal uint64 // raw bytes of the chunks, every copy counted
	DiskUsed  uint64
	Profiles  []Profile // by name
}

// DeviceSize is the size of one member device, by its name in
// /sys/fs/btrfs/<fsid>/devices (the kernel's: sda2, dm-0, ...).
type DeviceSize struct {
	Name string
	Size uint64
}

// Profile is the logical space of one profile of a block group type; there
// is more than one only while a balance converts between them.
type Profile struct {
	Name  string // single, dup, raid1, raid1c3, raid10, ...
	Total uint64
	Used  uint64
}

// Ratio is raw bytes per logical byte: 2 for dup or raid1, 1 for single.
func (a Allocation) Ratio() float64 {
	if a.Total == 0 {
		return 1
	}
	return float64(a.DiskTotal) / float64(a.Total)
}

// Usage reads the space accounting from the sysfs given to Open.
func (fs *FS) Usage() (Usage, error) {
	u, err := ReadUsage(fs.SysfsDir())
	if err != nil {
		return Usage{}, fmt.Errorf("usage of %s: %w", ShowPath(fs.mount), err)
	}
	return u, nil
}

// minUnallocated is the unallocated space below which btrfs-progs does not
// count it as free any more.
const minUnallocated = 16 << 20

// ReadUsage reads the space accounting of the filesystem whose sysfs
// directory (/sys/fs/btrfs/<fsid>) is dir. It is the one reader of it: for
// Usage, and for the exporter, which finds dir from the configured device
// without opening the top level. Any file missing or unreadable is an
// error: no figure is guessed.
func ReadUsage(dir string) (Usage, error) {
	r := sysfsReader{dir: dir}
	var u Usage
	devs, err := os.ReadDir(filepath.Join(dir, "devices"))
	if err != nil {
		return Usage{}, err
	}
	for _, d := range devs { // sorted by name
		size := 512 * r.uint(filepath.Join("devices", d.Name(), "size"))
		u.Devices = append(u.Devices, DeviceSize{Name: d.Name(), Size: size})
		u.Size += size
	}
	u.Data = r.allocation("data")
	u.Metadata = r.allocation("metadata")
	u.System = r.allocation("system")
	u.GlobalReserve = r.uint("allocation/global_rsv_size")
	u.GlobalReserveUsed = u.GlobalReserve - min(u.GlobalReserve, r.uint("allocation/global_rsv_reserved"))
	if r.err != nil {
		return Usage{}, r.err
	}
	u.Allocated = u.Data.DiskTotal + u.Metadata.DiskTotal + u.System.DiskTotal
	u.Used = u.Data.DiskUsed + u.Metadata.DiskUsed + u.System.DiskUsed
	u.Unallocated = u.Size - min(u.Size, u.Allocated)
	// The computation of btrfs-progs (cmds/filesystem-usage.c), which uses
	// the data ratio for the unallocated space too and truncates to bytes
	// after each term. The files are not read atomically: a chunk filled
	// between the reads of disk_total and disk_used must not wrap around.
	ratio := u.Data.Ratio()
	u.FreeEstimate = uint64(float64(u.Data.DiskTotal-min(u.Data.DiskTotal, u.Data.DiskUsed)) / ratio)
	if u.Unallocated >= minUnallocated {
		u.FreeEstimate = uint64(float64(u.FreeEstimate) + float64(u.Unallocated)/ratio)
	}
	return u, nil
}

// sysfsReader reads numbers below dir and keeps the first error.
type sysfsReader struct {
	dir string
	err error
}

func (r *sysfsReader) uint(name string) uint64 {
	if r.err != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		r.err = err
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", filepath.Join(r.dir, name), err)
	}
	return v
}

// allocation reads allocation/<typ>; its subdirectories with a total_bytes
// file are its profiles.
func (r *sysfsReader) allocation(typ string) Allocation {
	base := filepath.Join("allocation", typ)
	a := Allocation{
		Total:     r.uint(filepath.Join(base, "total_bytes")),
		Used:      r.uint(filepath.Join(base, "bytes_used")),
		DiskTotal: r.uint(filepath.Join(base, "disk_total")),
		DiskUsed:  r.uint(filepath.Join(base, "disk_used")),
	}
	entries, err := os.ReadDir(filepath.Join(r.dir, base))
	if err != nil && r.err == nil {
		r.err = err
	}
	for _, e := range entries {
		p := filepath.Join(base, e.Name())
		if _, err := os.Stat(filepath.Join(r.dir, p, "total_bytes")); err != nil || !e.IsDir() {
			continue
		}
		a.Profiles = append(a.Profiles, Profile{
			Name:  e.Name(),
			Total: r.uint(filepath.Join(p, "total_bytes")),
			Used:  r.uint(filepath.Join(p, "used_bytes")),
		})
	}
	slices.SortFunc(a.Profiles, func(x, y Profile) int { return strings.Compare(x.Name, y.Name) })
	return a
}
