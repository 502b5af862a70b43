package btrfs

import (
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
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveBeneath}
	fd, err := unix.Openat2(int(fs.top.Fd()), p, &how)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), p), nil
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
