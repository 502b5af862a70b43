package safefile

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Sync says how durable a Replace is once it returns.
type Sync int

const (
	// Durable fsyncs the file before the rename and the directory after it:
	// the new content survives a power cut once Replace returns.
	Durable Sync = iota
	// Atomic fsyncs the file before the rename but not the directory: after
	// a power cut the path holds the old or the new content, never a torn
	// one, and the rename itself is on disk with the filesystem's next
	// commit (btrfs: within commit= seconds, 30 by default). For records
	// that every run rewrites and nothing depends on surviving a power cut
	// (job state records, textfile metrics).
	Atomic
)

// TempInfix marks the temporary files of Replace: "."+name+TempInfix+digits
// in the target's directory. The leading dot hides them from every reader
// of the suite (and from node_exporter, which reads only *.prom).
const TempInfix = ".tmp-"

// legacyAge is how old a temporary of the naming older versions used
// ("."+name+digits, without a lock) must be before it counts as stale.
const legacyAge = time.Minute

// afterTemp, when set (tests), runs once the temporary file exists, is
// locked and not yet written.
var afterTemp func(tmp string)

// Replace atomically replaces path with data (mode perm.File exactly, the
// umask notwithstanding): a temporary file in the same directory, locked
// (flock) while it is written, fsync, rename over path, and with Durable an
// fsync of the directory. path must not exist as anything but a regular
// file: a symbolic link, FIFO, device or directory there is refused, not
// replaced. Before it writes, Replace removes the temporaries of the same
// name that a killed writer left (no process holds their lock).
func Replace(path string, data []byte, perm Perm, sync Sync) (err error) {
	path = filepath.Clean(path)
	dir, name := filepath.Split(path)
	d, err := OpenDir(dir, perm.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	dirfd := int(d.Fd())
	if err := precheck(dirfd, name, path, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	removeStale(d, name)
	tmp, tmpName, err := createTemp(dirfd, dir, name)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			unix.Unlinkat(dirfd, tmpName, 0) // while still locked
		}
		if cerr := tmp.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if afterTemp != nil {
		afterTemp(tmp.Name())
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm.File); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := unix.Renameat(dirfd, tmpName, dirfd, name); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp.Name(), New: path, Err: err}
	}
	renamed = true
	if sync == Durable {
		if err := unix.Fsync(dirfd); err != nil {
			return &fs.PathError{Op: "fsync", Path: dir, Err: err}
		}
	}
	return nil
}

// createTemp creates and locks a new temporary file for name in dirfd. The
// lock is taken after the create: a concurrent removeStale may take the
// unlocked file for a stale one in between, so the name is checked to
// still be this file once it is locked, else another name is tried.
func createTemp(dirfd int, dir, name string) (*os.File, string, error) {
	var err error
	for range 100 {
		tmp := "." + name + TempInfix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		var fd int
		fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, "", &fs.PathError{Op: "create", Path: filepath.Join(dir, tmp), Err: err}
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil || !sameFile(dirfd, tmp, fd) {
			unix.Close(fd) // a removeStale has it: it removes it
			continue
		}
		return os.NewFile(uintptr(fd), filepath.Join(dir, tmp)), tmp, nil
	}
	return nil, "", &fs.PathError{Op: "create", Path: filepath.Join(dir, "."+name+TempInfix+"*"), Err: err}
}

// sameFile reports whether name in dirfd is the file open as fd.
func sameFile(dirfd int, name string, fd int) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstatat(dirfd, name, &b, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// tempKind tells whether entry is a temporary of name: 1 for Replace's
// own, 2 for the unlocked naming of older versions, 0 for neither.
func tempKind(name, entry string) int {
	rest, ok := strings.CutPrefix(entry, "."+name)
	if !ok {
		return 0
	}
	if r, ok := strings.CutPrefix(rest, TempInfix); ok && digits(r) {
		return 1
	}
	if digits(rest) {
		return 2
	}
	return 0
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStale removes the temporaries of name in d whose writer is gone:
// regular files no process holds the lock of (for the unlocked naming of
// older versions: also older than legacyAge). Best effort: errors leave the
// file for the next writer.
func removeStale(d *os.File, name string) {
	entries, err := d.Readdirnames(-1)
	if err != nil {
		return
	}
	dirfd := int(d.Fd())
	for _, e := range entries {
		if kind := tempKind(name, e); kind != 0 {
			removeIfStale(dirfd, e, kind == 2)
		}
	}
}

func removeIfStale(dirfd int, entry string, legacy bool) {
	fd, err := unix.Openat(dirfd, entry, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	if legacy && time.Since(time.Unix(st.Mtim.Unix())) < legacyAge {
		return
	}
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // its writer is alive
	}
	if sameFile(dirfd, entry, fd) {
		unix.Unlinkat(dirfd, entry, 0)
	}
}
