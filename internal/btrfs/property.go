package btrfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// compressionXattr holds the compression property (`btrfs property set …
// compression`), inherited by new files.
const compressionXattr = "btrfs.compression"

// SetCompression sets the compression algorithm of new data written below
// path: "zstd", "lzo", "zlib" or "none" (never compress); "" removes the
// property. Levels are per filesystem (mount option), so "zstd:3" is
// refused. The kernel refuses any value on a NoCoW inode (EINVAL).
func (fs *FS) SetCompression(path, algo string) error {
	err := fs.setCompression(path, algo)
	if err != nil {
		return fmt.Errorf("set compression %q on %s: %w", algo, path, err)
	}
	return nil
}

func (fs *FS) setCompression(path, algo string) error {
	if err := checkAlgo(algo); err != nil {
		return err
	}
	f, err := fs.openPath(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return setCompression(f, algo)
}

func checkAlgo(algo string) error {
	switch algo {
	case "zstd", "lzo", "zlib", "none", "":
		return nil
	}
	return errors.New(`unknown algorithm (want zstd, lzo, zlib, none or "")`)
}

// setCompression sets (or, for "", removes) the compression property of
// the open file f; algo has passed checkAlgo.
func setCompression(f *os.File, algo string) error {
	if algo == "" {
		if err := unix.Fremovexattr(int(f.Fd()), compressionXattr); !errors.Is(err, unix.ENODATA) {
			return err
		}
		return nil
	}
	err := unix.Fsetxattr(int(f.Fd()), compressionXattr, []byte(algo), 0)
	if errors.Is(err, unix.EINVAL) {
		if nocow, _ := noCoW(f); nocow {
			return fmt.Errorf("NoCoW data is never compressed: %w", err)
		}
	}
	return err
}

// Compression returns the compression property of path, "" if unset.
func (fs *FS) Compression(path string) (string, error) {
	f, err := fs.openPath(path)
	if err != nil {
		return "", fmt.Errorf("get compression of %s: %w", path, err)
	}
	defer f.Close()
	algo, err := compression(f)
	if err != nil {
		return "", fmt.Errorf("get compression of %s: %w", path, err)
	}
	return algo, nil
}

// compression returns the compression property of the open file f, "" if
// unset.
func compression(f *os.File) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Fgetxattr(int(f.Fd()), compressionXattr, buf)
	switch {
	case errors.Is(err, unix.ENODATA):
		return "", nil
	case err != nil:
		return "", err
	}
	return string(buf[:n]), nil
}

// SetNoCoW sets the NoCoW attribute (chattr +C) on the root of the subvolume
// at path, which must be empty (ErrNotEmpty): the kernel silently ignores +C
// on files that already have data, so only files created afterwards, which
// inherit it, would be NoCoW. NoCoW data has no checksums and is never
// compressed. Setting it again on a NoCoW subvolume does nothing.
func (fs *FS) SetNoCoW(path string) error {
	f, err := fs.openSubvolume(path)
	if err == nil {
		defer f.Close()
		err = setNoCoW(f)
	}
	if err != nil {
		return fmt.Errorf("set NoCoW on %s: %w", path, err)
	}
	return nil
}

func setNoCoW(f *os.File) error {
	if nocow, err := noCoW(f); err != nil || nocow {
		return err
	}
	if _, err := f.ReadDir(1); err != io.EOF {
		if err == nil {
			err = ErrNotEmpty
		}
		return err
	}
	return addNoCoW(f)
}

// addNoCoW adds the NoCoW attribute to the flags of the open file f, as
// chattr +C does: the other flags are kept, and nothing is written when it
// is already set.
func addNoCoW(f *os.File) error {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsNoCoWFlag != 0 {
		return err
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsNoCoWFlag))
}

// NoCoW reports whether the file or directory at path has the NoCoW
// attribute.
func (fs *FS) NoCoW(path string) (bool, error) {
	f, err := fs.openPath(path)
	if err != nil {
		return false, fmt.Errorf("get NoCoW of %s: %w", path, err)
	}
	defer f.Close()
	nocow, err := noCoW(f)
	if err != nil {
		return false, fmt.Errorf("get NoCoW of %s: %w", path, err)
	}
	return nocow, nil
}

func noCoW(f *os.File) (bool, error) {
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	return flags&fsNoCoWFlag != 0, err
}
