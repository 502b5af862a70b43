package targetdir

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// Incoming is the directory of transfers below a target's root.
const Incoming = ".incoming"

// firstFreeObjectID is the inode number of every subvolume's root
// directory (BTRFS_FIRST_FREE_OBJECTID).
const firstFreeObjectID = 256

// Dir is a target directory.
type Dir struct {
	Root string
}

// Path returns <root>/<subvolume>/<name>.
func (d Dir) Path(sv, name string) string { return filepath.Join(d.Root, sv, name) }

// incoming returns the transfer directory of sv/name.
func (d Dir) incoming(sv, name string) string { return filepath.Join(d.Root, Incoming, sv, name) }

// Clean deletes everything below .incoming (what killed transfers left)
// and returns the subvolumes and files it removed, relative to .incoming.
// The caller holds the target's lock: no transfer is in progress.
func (d Dir) Clean() ([]string, error) {
	var removed []string
	var errs []error
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		entries, err := readDir("read", dir)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range entries {
			p, r := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
			switch {
			case IsSubvolume(p):
				err = deleteSubvolume(dir, e.Name())
			case e.IsDir():
				walk(p, r)
				if err := os.Remove(p); err != nil {
					errs = append(errs, fmt.Errorf("remove partial transfer %s: %w", p, err))
				}
				continue
			default:
				err = os.Remove(p)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove partial transfer %s: %w", p, err))
				continue
			}
			removed = append(removed, r)
		}
	}
	walk(filepath.Join(d.Root, Incoming), "")
	return removed, errors.Join(errs...)
}

func deleteSubvolume(dir, name string) error {
	bd, err := btrfs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer bd.Close()
	return bd.DeleteChild(name)
}

// IsSubvolume reports whether p (not followed) is the root of a subvolume.
func IsSubvolume(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Ino == firstFreeObjectID
}

// Info returns the subvolume at p.
func Info(p string) (btrfs.Subvolume, error) {
	d, err := btrfs.OpenDir(p)
	if err != nil {
		return btrfs.Subvolume{}, err
	}
	defer d.Close()
	return d.Info()
}

// Delete deletes the received snapshot <root>/<sv>/<name>.
func (d Dir) Delete(sv, name string) error {
	return deleteSubvolume(filepath.Join(d.Root, sv), name)
}

// Sync commits the target filesystem: renames are durable after a commit.
func (d Dir) Sync() error {
	bd, err := btrfs.OpenDir(d.Root)
	if err != nil {
		return err
	}
	defer bd.Close()
	return bd.Sync()
}

// place moves the verified received subvolume src to dst. The kernel
// moves a directory to another parent only when it may write to it (its
// ".." changes), so the subvolume is made writable for the rename and
// read-only again at once; clearing the flag keeps the received UUID.
// A crash in between leaves a writable subvolume with the right received
// UUID at dst: List does not count it, and Repair makes it read-only.
func place(src, dst string, uuid btrfs.UUID) error {
	d, err := btrfs.OpenDir(src)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.SetReadOnly(false); err != nil {
		return err
	}
	if err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		d.SetReadOnly(true)
		return fmt.Errorf("move %s to %s: %w", src, dst, err)
	}
	if err := d.SetReadOnly(true); err != nil {
		return err
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	if info.ReceivedUUID != uuid || !info.ReadOnly {
		return fmt.Errorf("%s after the move: received UUID %s, read-only %t; want %s, true", dst, info.ReceivedUUID, info.ReadOnly, uuid)
	}
	return nil
}

// readDir lists dir for op; a directory that does not exist (nothing
// received yet) is empty.
func readDir(op, dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, dir, err)
	}
	return entries, nil
}
