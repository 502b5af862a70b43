package btrfs

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	dbtrfs "github.com/dennwc/btrfs"
	"golang.org/x/sys/unix"
)

// topLevelID is the id of the top-level subvolume (BTRFS_FS_TREE_OBJECTID).
const topLevelID = 5

// FS is an open top-level (subvolid=5) mount of a btrfs filesystem. Its
// methods are safe for concurrent use.
type FS struct {
	mount     string
	top       *os.File
	noOpenat2 atomic.Bool // openat2 refused by a seccomp filter: open walks instead
	mountID   int         // mount id of top in mountinfo
	fsid      UUID
	info      *dbtrfs.FS // the same directory, for dennwc's device ioctls
	mountinfo string
	sysfs     string
}

// Option changes where Open reads host state from.
type Option func(*FS)

// WithMountinfo reads the mount table from path instead of
// /proc/self/mountinfo.
func WithMountinfo(path string) Option { return func(fs *FS) { fs.mountinfo = path } }

// WithSysfs reads sysfs below root instead of /sys.
func WithSysfs(root string) Option { return func(fs *FS) { fs.sysfs = root } }

// Open opens mountpoint, which must be a mount of the top-level subvolume of
// a btrfs filesystem; otherwise the error is ErrNotBtrfs or ErrNotTopLevel.
// It needs /proc mounted (/proc/self/fd, and /proc/self/mountinfo unless
// WithMountinfo says otherwise).
func Open(mountpoint string, opts ...Option) (*FS, error) {
	fs := &FS{mount: mountpoint, mountinfo: "/proc/self/mountinfo", sysfs: "/sys"}
	for _, o := range opts {
		o(fs)
	}
	if err := fs.init(); err != nil {
		fs.Close()
		return nil, fmt.Errorf("open btrfs top level %s: %w", mountpoint, err)
	}
	return fs, nil
}

func (fs *FS) init() error {
	top, err := os.OpenFile(fs.mount, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fs.top = top
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(top.Fd()), &st); err != nil {
		return err
	}
	if uint32(st.Type) != unix.BTRFS_SUPER_MAGIC {
		return ErrNotBtrfs
	}
	var args getSubvolInfoArgs
	if err := ioctl(top, iocGetSubvolInfo, unsafe.Pointer(&args)); err != nil {
		return fmt.Errorf("get subvolume info: %w", err)
	}
	if args.TreeID != topLevelID {
		return fmt.Errorf("%w: it is subvolume %d", ErrNotTopLevel, args.TreeID)
	}
	if err := isSubvolumeRoot(top); errors.Is(err, ErrNotSubvolume) {
		return fmt.Errorf("%w: it is a directory inside it", ErrNotTopLevel)
	} else if err != nil {
		return err
	}
	var stx unix.Statx_t
	if err := unix.Statx(int(top.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return fmt.Errorf("statx: %w", err)
	}
	fs.mountID = int(stx.Mnt_id)
	// Through our own descriptor, so dennwc's is the very same directory.
	if fs.info, err = dbtrfs.Open(fmt.Sprintf("/proc/self/fd/%d", top.Fd()), true); err != nil {
		return err
	}
	info, err := fs.info.Info()
	if err != nil {
		return fmt.Errorf("filesystem info: %w", err)
	}
	fs.fsid = UUID(info.FSID)
	return nil
}

// Close releases the mount's descriptors.
func (fs *FS) Close() error {
	var errs []error
	if fs.info != nil {
		errs = append(errs, fs.info.Close())
	}
	if fs.top != nil {
		errs = append(errs, fs.top.Close())
	}
	return errors.Join(errs...)
}

// MountReadOnly reports whether nothing can be written through the top level:
// its mount is read-only, or the filesystem is (mounted ro, or forced
// read-only by btrfs after an error).
func (fs *FS) MountReadOnly() (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(fs.top.Fd()), &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", ShowPath(fs.mount), err)
	}
	return st.Flags&unix.ST_RDONLY != 0, nil
}

// Mountpoint returns the path the filesystem was opened at.
func (fs *FS) Mountpoint() string { return fs.mount }

// FSID returns the filesystem UUID, the name of its /sys/fs/btrfs directory.
func (fs *FS) FSID() UUID { return fs.fsid }
