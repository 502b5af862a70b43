// Package safefile is how the suite opens the files it writes, appends or
// reads as configuration or state:
//
//   - Never through a symbolic link where none is legitimate: the file itself
//     and its own directory (the last component of the directory path) are
//     opened with O_NOFOLLOW, the file relative to the directory's
//     descriptor. Parents above (/var/log, /etc) belong to root and are
//     resolved normally. Configuration is read following symbolic links
//     (ReadFollow): a link in /etc placed by root is ordinary on Debian.
//   - Only a regular file: every open is O_NONBLOCK (a FIFO never blocks it)
//     and the descriptor is checked with fstat; a FIFO, socket, device or
//     directory is refused with a *TypeError naming the path and its type.
//   - Directories are created with their documented mode, and the file's own
//     directory, when it exists with more permission bits, is tightened to it
//     (never loosened). A written file that exists with more bits than its
//     mode is tightened too.
//   - Whole-file replacement (Replace) is atomic: a temporary file in the
//     same directory under a hidden name the readers ignore, fsync, rename
//     over the target, and (Durable) fsync of the directory. A temporary that
//     a killed writer left behind is removed by the next Replace of the same
//     file.
//
// Every descriptor is O_CLOEXEC.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrType is what a *TypeError matches with errors.Is.
var ErrType = errors.New("wrong file type")

// TypeError is a path that is not the type the suite requires there.
type TypeError struct {
	Path string
	Type string // "symbolic link", "FIFO", "directory", …
	Want string // "regular file" or "directory"
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("%s is a %s, not a %s: refused", e.Path, e.Type, e.Want)
}

// Unwrap makes errors.Is(err, ErrType) true.
func (e *TypeError) Unwrap() error { return ErrType }

const (
	wantFile = "regular file"
	wantDir  = "directory"
)

// typeName names the type of a file mode.
func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	}
	return "special file"
}

// statType converts a unix.Stat_t mode to the type bits of an fs.FileMode.
func statType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFREG:
		return 0
	}
	return fs.ModeIrregular
}

// openErr turns the error of an open of path (name in the directory dirfd,
// or an absolute path with dirfd AT_FDCWD) into a *TypeError when the path
// is of the wrong type (ELOOP for a symbolic link under O_NOFOLLOW, ENXIO
// for a FIFO without a reader or a socket, EISDIR, ENOTDIR), else an
// *fs.PathError.
func openErr(dirfd int, name, path, want string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENXIO), errors.Is(err, unix.EISDIR),
		errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EOPNOTSUPP):
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			if t := statType(st.Mode); !matches(t, want) {
				return &TypeError{Path: path, Type: typeName(t), Want: want}
			}
		}
	}
	return &fs.PathError{Op: "open", Path: path, Err: err}
}

func matches(t fs.FileMode, want string) bool {
	if want == wantDir {
		return t.IsDir()
	}
	return t.IsRegular()
}

// check fstats fd (opened at path) and returns its stat when it is of the
// wanted type.
func check(fd int, path, want string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if t := statType(st.Mode); !matches(t, want) {
		return st, &TypeError{Path: path, Type: typeName(t), Want: want}
	}
	return st, nil
}

// precheck refuses an existing name in dirfd that is not a regular file
// before it is opened: opening a device can have effects of its own. The
// fstat after the open is what counts; this only keeps the open from
// happening in the common case.
func precheck(dirfd int, name, path string, flags int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, flags); err != nil {
		return nil // missing (to be created) or unreachable: the open says why
	}
	if t := statType(st.Mode); !t.IsRegular() {
		return &TypeError{Path: path, Type: typeName(t), Want: wantFile}
	}
	return nil
}

// tighten clears the permission bits of fd beyond perm.
func tighten(fd int, path string, st unix.Stat_t, perm fs.FileMode) error {
	have := fs.FileMode(st.Mode) & fs.ModePerm
	if have&^perm == 0 {
		return nil
	}
	if err := unix.Fchmod(fd, uint32(have&perm)); err != nil {
		return &fs.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}

// OpenDir opens the directory dir without following a symbolic link at its
// last component. With perm non-zero, missing directories are created with
// mode perm (dir itself exactly, whatever the umask) and an existing dir
// with more permission bits is tightened to perm; with perm 0 dir must
// exist and is left as it is.
func OpenDir(dir string, perm fs.FileMode) (*os.File, error) {
	dir = filepath.Clean(dir)
	created := false
	if perm != 0 {
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(dir, perm); err != nil {
				return nil, err
			}
			created = true
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, openErr(unix.AT_FDCWD, dir, dir, wantDir, err)
	}
	st, err := check(fd, dir, wantDir)
	if err == nil && perm != 0 {
		if created {
			err = unix.Fchmod(fd, uint32(perm))
		} else {
			err = tighten(fd, dir, st, perm)
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// MkdirAll makes sure dir is a directory (not a symbolic link) with at most
// the permission bits perm: see OpenDir.
func MkdirAll(dir string, perm fs.FileMode) error {
	d, err := OpenDir(dir, perm)
	if err != nil {
		return err
	}
	return d.Close()
}

// Perm is the mode of a written file and of its directory.
type Perm struct {
	// File is the mode of a created file; an existing file with more
	// permission bits is tightened to it.
	File fs.FileMode
	// Dir, when non-zero, creates missing directories with this mode and
	// tightens the file's directory to it (see OpenDir); zero: the
	// directory must exist and is left as it is.
	Dir fs.FileMode
}

// OpenFile opens path for writing with flag (os.O_WRONLY, os.O_RDWR,
// os.O_APPEND, os.O_CREATE, os.O_EXCL, …; never os.O_TRUNC through a
// symbolic link, since none is followed): a regular file, not a symbolic
// link, in a directory that is not one either.
func OpenFile(path string, flag int, perm Perm) (*os.File, error) {
	dir, name := filepath.Split(filepath.Clean(path))
	d, err := OpenDir(dir, perm.Dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := precheck(int(d.Fd()), name, path, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	return openAt(int(d.Fd()), name, path, flag, perm.File)
}

// openAt opens name in dirfd for writing: see OpenFile. The file it opened
// is checked, whatever precheck saw before.
func openAt(dirfd int, name, path string, flag int, perm fs.FileMode) (*os.File, error) {
	fl := flag | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK
	// O_TRUNC on a FIFO or device would act before the check: truncate
	// after it.
	trunc := fl&unix.O_TRUNC != 0
	fl &^= unix.O_TRUNC
	fd, err := unix.Openat(dirfd, name, fl, uint32(perm))
	if err != nil {
		return nil, openErr(dirfd, name, path, wantFile, err)
	}
	st, err := check(fd, path, wantFile)
	if err == nil {
		err = tighten(fd, path, st, perm)
	}
	if err == nil && trunc {
		if err = unix.Ftruncate(fd, 0); err != nil {
			err = &fs.PathError{Op: "truncate", Path: path, Err: err}
		}
	}
	if err == nil {
		err = clearNonblock(fd, path)
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// clearNonblock makes fd blocking again: O_NONBLOCK was only for the open,
// so that a FIFO could not block it.
func clearNonblock(fd int, path string) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		return &fs.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return nil
}

// ReadFile reads the regular file at path, refusing a symbolic link (at the
// file; its directory is resolved normally) and a file larger than limit
// bytes. A missing file is an error that matches fs.ErrNotExist.
func ReadFile(path string, limit int64) ([]byte, error) {
	return read(path, limit, unix.O_NOFOLLOW)
}

// ReadFollow is ReadFile following a symbolic link, for configuration that
// the administrator may link into place; what the link leads to must still
// be a regular file.
func ReadFollow(path string, limit int64) ([]byte, error) {
	return read(path, limit, 0)
}

func read(path string, limit int64, nofollow int) ([]byte, error) {
	flags := 0
	if nofollow != 0 {
		flags = unix.AT_SYMLINK_NOFOLLOW
	}
	if err := precheck(unix.AT_FDCWD, path, path, flags); err != nil {
		return nil, err
	}
	return readOpen(path, limit, nofollow)
}

// readOpen opens and reads path: see read. The file it opened is checked,
// whatever precheck saw before.
func readOpen(path string, limit int64, nofollow int) ([]byte, error) {
	f, st, err := openRead(path, nofollow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: refused", path, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: refused", path, limit)
	}
	return b, nil
}

// Open opens the regular file at path for reading, refusing a symbolic
// link, like ReadFile: for a reader that streams a file of any size.
func Open(path string) (*os.File, error) {
	if err := precheck(unix.AT_FDCWD, path, path, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, err
	}
	f, _, err := openRead(path, unix.O_NOFOLLOW)
	return f, err
}

func openRead(path string, nofollow int) (*os.File, unix.Stat_t, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|nofollow, 0)
	if err != nil {
		return nil, unix.Stat_t{}, openErr(unix.AT_FDCWD, path, path, wantFile, err)
	}
	st, err := check(fd, path, wantFile)
	if err == nil {
		err = clearNonblock(fd, path)
	}
	if err != nil {
		unix.Close(fd)
		return nil, st, err
	}
	return os.NewFile(uintptr(fd), path), st, nil
}
