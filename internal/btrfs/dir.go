package btrfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dir is a directory opened by its absolute path rather than beneath an
// open top level: the root of a subvolume at its mountpoint, whose
// compression property and NoCoW attribute impermanence-tune re-applies at
// boot. OpenDir refuses a symbolic link as the last component; which mount
// the path reached is for the caller to check with MountID against the
// mount table, on the open directory, so that a mount appearing or
// vanishing between the check and the change cannot redirect it.
type Dir struct {
	f *os.File
}

// OpenDir opens the directory at path.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOTDIR) && isSymlink(unix.AT_FDCWD, path) {
		err = unix.ELOOP // O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path)}, nil
}

// OpenDirFollow opens the directory at path, following a symbolic link as
// the last component too (as reading a directory by its path does).
func OpenDirFollow(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path)}, nil
}

// Path returns the path the directory was opened at.
func (d *Dir) Path() string { return d.f.Name() }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// MountID returns the id of the mount the directory belongs to, the first
// field of its line in /proc/self/mountinfo (statx STATX_MNT_ID, Linux ≥ 5.8).
func (d *Dir) MountID() (int, error) {
	var stx unix.Statx_t
	err := unix.Statx(int(d.f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx)
	if err == nil && stx.Mask&unix.STATX_MNT_ID == 0 {
		err = errors.New("the kernel does not report mount ids (statx STATX_MNT_ID needs Linux 5.8)")
	}
	if err != nil {
		return 0, fmt.Errorf("mount id of %s: %w", d.Path(), err)
	}
	return int(stx.Mnt_id), nil
}

// Compression returns the compression property of the directory, "" if
// unset.
func (d *Dir) Compression() (string, error) {
	algo, err := compression(d.f)
	if err != nil {
		return "", fmt.Errorf("get compression of %s: %w", d.Path(), err)
	}
	return algo, nil
}

// SetCompression sets the compression property of the directory, inherited
// by the files created in it, as `btrfs property set DIR compression ALGO`
// does: "zstd", "lzo", "zlib" or "none" (stored as is, never compress); ""
// removes it. The kernel refuses any value on a NoCoW directory (EINVAL).
func (d *Dir) SetCompression(algo string) error {
	err := checkAlgo(algo)
	if err == nil {
		err = setCompression(d.f, algo)
	}
	if err != nil {
		return fmt.Errorf("set compression %q on %s: %w", algo, d.Path(), err)
	}
	return nil
}

// NoCoW reports whether the directory has the NoCoW attribute.
func (d *Dir) NoCoW() (bool, error) {
	nocow, err := noCoW(d.f)
	if err != nil {
		return false, fmt.Errorf("get NoCoW of %s: %w", d.Path(), err)
	}
	return nocow, nil
}

// SetNoCoW sets the NoCoW attribute of the directory as `chattr +C DIR`
// does, whatever it holds: the files created in it afterwards inherit it,
// the files already there keep their data as it is (unlike FS.SetNoCoW,
// which wants an empty subvolume so that everything in it is NoCoW). The
// kernel refuses it on a directory with a compression property (EINVAL).
func (d *Dir) SetNoCoW() error {
	if err := addNoCoW(d.f); err != nil {
		return fmt.Errorf("set NoCoW on %s: %w", d.Path(), err)
	}
	return nil
}

// Info returns the subvolume whose root the directory is
// (GET_SUBVOL_INFO): on any btrfs, without a top-level mount.
func (d *Dir) Info() (Subvolume, error) {
	return subvolInfo(d.f, d.f.Name())
}

// DeleteChild deletes the subvolume called name in the directory
// (SNAP_DESTROY_V2 by name), read-only or not. A subvolume holding others
// fails with ErrNotEmpty.
func (d *Dir) DeleteChild(name string) error {
	var args volArgsV2
	if len(name) >= len(args.Name) || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("delete subvolume %s/%s: %w", d.f.Name(), name, ErrInvalidPath)
	}
	copy(args.Name[:], name)
	if err := ioctl(d.f, iocSnapDestroyV2, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("delete subvolume %s/%s: %w", d.f.Name(), name, err)
	}
	return nil
}

// Sync commits the filesystem the directory is on (BTRFS_IOC_SYNC).
func (d *Dir) Sync() error {
	if err := ioctl(d.f, iocSync, nil); err != nil {
		return fmt.Errorf("sync %s: %w", d.f.Name(), err)
	}
	return nil
}

// FSID returns the UUID of the filesystem the directory is on.
func (d *Dir) FSID() (UUID, error) {
	u, err := fsidOf(d.f)
	if err != nil {
		return UUID{}, fmt.Errorf("filesystem of %s: %w", d.f.Name(), err)
	}
	return u, nil
}

// SetReadOnly sets or clears the read-only flag of the subvolume whose
// root the directory is.
func (d *Dir) SetReadOnly(readOnly bool) error {
	var flags uint64
	err := ioctl(d.f, iocSubvolGetFlags, unsafe.Pointer(&flags))
	if err == nil {
		flags &^= subvolReadOnly
		if readOnly {
			flags |= subvolReadOnly
		}
		err = ioctl(d.f, iocSubvolSetFlags, unsafe.Pointer(&flags))
	}
	if err != nil {
		return fmt.Errorf("set read-only=%t on %s: %w", readOnly, d.f.Name(), err)
	}
	return nil
}
