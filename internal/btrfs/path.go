package btrfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// cleanPath checks that p names something below the top level and returns it
// cleaned: relative, without ".." components, not the top level itself.
func cleanPath(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w %q: want a path relative to the top level", ErrInvalidPath, p)
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w %q: contains ..", ErrInvalidPath, p)
		}
	}
	c := filepath.Clean(p)
	if c == "." {
		return "", fmt.Errorf("%w %q: names the top level itself", ErrInvalidPath, p)
	}
	return c, nil
}

// resolveBeneath keeps every lookup inside the top-level mount: no absolute
// paths or "..", no symbolic links, no crossing into another mount.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS |
	unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// open opens the cleaned path p beneath the top level.
func (fs *FS) open(p string, flags int) (*os.File, error) {
	if !fs.noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveBeneath}
		fd, err := unix.Openat2(int(fs.top.Fd()), p, &how)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), p), nil
		case !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EPERM):
			return nil, err
		}
		// A seccomp filter refuses openat2: systemd's RestrictSUIDSGID=
		// answers ENOSYS (it cannot inspect open_how), SystemCallFilter=
		// our units' EPERM. Resolve the same way by hand from now on; a
		// genuine EPERM comes back from the walk as well.
		fs.noOpenat2.Store(true)
	}
	fd, err := fs.openWalk(p, flags)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
}

// openWalk resolves p one component at a time with openat and O_NOFOLLOW,
// giving what openat2 with resolveBeneath gives: no symbolic link is
// followed (ELOOP), no mount is crossed (EXDEV); cleanPath already refused
// absolute paths and "..".
func (fs *FS) openWalk(p string, flags int) (int, error) {
	dir := int(fs.top.Fd())
	parts := strings.Split(p, "/")
	for i, c := range parts {
		fl := unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i < len(parts)-1 {
			fl |= unix.O_RDONLY | unix.O_DIRECTORY
		} else {
			fl |= flags
		}
		fd, err := unix.Openat(dir, c, fl, 0)
		if errors.Is(err, unix.ENOTDIR) && isSymlink(dir, c) {
			err = unix.ELOOP // O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR; openat2 says ELOOP
		}
		if dir != int(fs.top.Fd()) {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		if mnt, err := statxMountID(fd); err != nil || mnt != uint64(fs.mountID) {
			unix.Close(fd)
			if err == nil {
				err = unix.EXDEV
			}
			return -1, err
		}
		dir = fd
	}
	return dir, nil
}

func isSymlink(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

func statxMountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	return stx.Mnt_id, nil
}

// openParent checks path and opens its parent directory; it returns the
// directory and the last path element.
func (fs *FS) openParent(path string) (*os.File, string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, "", err
	}
	dir, err := fs.open(filepath.Dir(p), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, "", err
	}
	return dir, filepath.Base(p), nil
}

// openSubvolume opens path, which must be the root of a subvolume.
func (fs *FS) openSubvolume(path string) (*os.File, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	f, err := fs.open(p, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	if err := isSubvolumeRoot(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// firstFreeObjectID is the inode number of every subvolume's root directory.
const firstFreeObjectID = 256

func isSubvolumeRoot(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Ino != firstFreeObjectID {
		return ErrNotSubvolume
	}
	return nil
}

// openPath opens the file or directory at path for ioctls and xattrs.
// O_NONBLOCK keeps a FIFO from blocking the open.
func (fs *FS) openPath(path string) (*os.File, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	return fs.open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
}
