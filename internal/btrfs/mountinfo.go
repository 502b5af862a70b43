package btrfs

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// memberDevices returns the device numbers of the filesystem's member
// devices.
func (fs *FS) memberDevices() (map[uint64]bool, error) {
	devs, err := fs.DeviceStats()
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, d := range devs {
		var st unix.Stat_t
		if err := unix.Stat(d.Path, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			out[st.Rdev] = true
		}
	}
	return out, nil
}

// Mount is one line of /proc/self/mountinfo (proc(5)), as internal/mountinfo
// reads it.
type Mount = mountinfo.Mount

// MountedSubvolumes returns the mounts of the filesystem that the mount with
// id mountID belongs to, keyed by subvolume id (subvolid=, which survives
// renames, unlike subvol=). All mounts of one filesystem share the
// major:minor of the mountinfo entry; a bind mount of a directory inside a
// subvolume counts for that subvolume.
func MountedSubvolumes(mounts []Mount, mountID int) (map[uint64][]Mount, error) {
	var self *Mount
	for i := range mounts {
		if mounts[i].ID == mountID {
			self = &mounts[i]
		}
	}
	if self == nil || self.FSType != "btrfs" {
		return nil, fmt.Errorf("no btrfs mount with id %d in mountinfo", mountID)
	}
	byID := map[uint64][]Mount{}
	for _, m := range mounts {
		if m.FSType != "btrfs" || m.Dev != self.Dev {
			continue
		}
		if m.SubvolID == 0 { // kernels before 4.x; we cannot tell, so refuse
			return nil, fmt.Errorf("btrfs mount %s without subvolid=", m.Mountpoint)
		}
		byID[m.SubvolID] = append(byID[m.SubvolID], m)
	}
	return byID, nil
}

// MountedSubvolumes returns the subvolumes of this filesystem that are
// mounted anywhere in this mount namespace, keyed by subvolume id, from the
// mountinfo file given to Open (default /proc/self/mountinfo).
//
// The top level opened through a detached mount (MountTopLevel) is not in
// the table; the filesystem's mounts are then those of a mount whose
// source is one of its member devices.
func (fs *FS) MountedSubvolumes() (map[uint64][]Mount, error) {
	mounts, err := mountinfo.Read(fs.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("mounted subvolumes: %w", err)
	}
	id := fs.mountID
	if !slices.ContainsFunc(mounts, func(m Mount) bool { return m.ID == id }) {
		members, err := fs.memberDevices()
		if err != nil {
			return nil, fmt.Errorf("mounted subvolumes: %w", err)
		}
		i := slices.IndexFunc(mounts, func(m Mount) bool {
			var st unix.Stat_t
			return m.FSType == "btrfs" && unix.Stat(m.Source, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && members[st.Rdev]
		})
		if i < 0 {
			return map[uint64][]Mount{}, nil // mounted nowhere but here
		}
		id = mounts[i].ID
	}
	m, err := MountedSubvolumes(mounts, id)
	if err != nil {
		return nil, fmt.Errorf("mounted subvolumes from %s: %w", fs.mountinfo, err)
	}
	return m, nil
}
