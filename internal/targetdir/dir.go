package targetdir

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
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

// List returns the subvolumes in <root>/<sv>/ with their received UUIDs
// ("" for one btrfs receive did not make, or that is not read-only),
// sorted by name. Only subvolumes whose roots are entries of that very
// directory count: not a symbolic link to one, not one deeper down or
// below .incoming, not one deleted and waiting for the cleaner.
//
// It reads the filesystem's root tree once (btrfs.ChildrenOf: a few
// calls whatever the number of snapshots) and needs CAP_SYS_ADMIN for
// that; without it (an unprivileged caller) it reads the directory and
// asks each subvolume (ListEach).
func (d Dir) List(sv string) ([]replicate.Held, error) {
	held, errs := d.ListAll([]string{sv})
	return held[0], errs[0]
}

// ListAll is List of each of svs (held[i] and errs[i] are those of
// svs[i]), reading the root tree once for all of them.
func (d Dir) ListAll(svs []string) (held [][]replicate.Held, errs []error) {
	held, errs = make([][]replicate.Held, len(svs)), make([]error, len(svs))
	var dirs []*btrfs.Dir
	var at []int // svs' index of each of dirs
	for i, sv := range svs {
		bd, err := openListed(filepath.Join(d.Root, sv))
		switch {
		case err != nil:
			errs[i] = err
		case bd == nil: // nothing received yet
			held[i] = []replicate.Held{}
		default:
			defer bd.Close()
			dirs, at = append(dirs, bd), append(at, i)
		}
	}
	if len(dirs) == 0 {
		return held, errs
	}
	children, err := btrfs.ChildrenOf(dirs)
	for j, i := range at {
		switch {
		case errors.Is(err, os.ErrPermission):
			held[i], errs[i] = d.ListEach(svs[i])
		case err != nil:
			errs[i] = fmt.Errorf("list target %s: %w", filepath.Join(d.Root, svs[i]), err)
		default:
			h := make([]replicate.Held, 0, len(children[j]))
			for _, c := range children[j] {
				h = append(h, heldOf(c.Name, c.Subvolume))
			}
			held[i] = h // sorted by name
		}
	}
	return held, errs
}

// openListed opens the directory List reads, following symbolic links as
// reading it by its path does; nil and no error when it does not exist
// (nothing received yet).
func openListed(dir string) (*btrfs.Dir, error) {
	bd, err := btrfs.OpenDirFollow(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list target %s: %w", dir, err)
	}
	return bd, nil
}

// heldOf is the entry name of List for subvolume s.
func heldOf(name string, s btrfs.Subvolume) replicate.Held {
	h := replicate.Held{Name: name}
	if !s.ReceivedUUID.IsZero() && s.ReadOnly {
		h.ReceivedUUID = s.ReceivedUUID.String()
	}
	return h
}

// ListEach is List by reading <root>/<sv>/ and opening each subvolume in
// it (GET_SUBVOL_INFO, no privilege needed): five calls per entry.
func (d Dir) ListEach(sv string) ([]replicate.Held, error) {
	dir := filepath.Join(d.Root, sv)
	entries, err := readDir("list target", dir)
	if err != nil {
		return nil, err
	}
	out := []replicate.Held{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !IsSubvolume(p) {
			continue
		}
		info, err := Info(p)
		if err != nil {
			return nil, err
		}
		out = append(out, heldOf(e.Name(), info))
	}
	slices.SortFunc(out, func(a, b replicate.Held) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
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

// Repair makes read-only again a received subvolume in <root>/<sv>/ that
// a crash left writable between the two flag changes of the move into
// place, and returns the names repaired. It finds them as List does and
// opens only those.
func (d Dir) Repair(sv string) ([]string, error) {
	dir := filepath.Join(d.Root, sv)
	bd, err := openListed(dir)
	if bd == nil {
		return nil, err
	}
	defer bd.Close()
	children, err := bd.Children()
	if errors.Is(err, os.ErrPermission) {
		return d.repairEach(sv)
	}
	if err != nil {
		return nil, fmt.Errorf("list target %s: %w", dir, err)
	}
	var out []string
	for _, c := range children {
		if c.ReceivedUUID.IsZero() || c.ReadOnly {
			continue
		}
		fixed, err := repair(filepath.Join(dir, c.Name))
		if err != nil {
			return out, err
		}
		if fixed {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// repairEach is Repair by opening every subvolume in <root>/<sv>/ (no
// privilege needed).
func (d Dir) repairEach(sv string) ([]string, error) {
	dir := filepath.Join(d.Root, sv)
	entries, err := readDir("list target", dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !IsSubvolume(p) {
			continue
		}
		fixed, err := repair(p)
		if err != nil {
			return out, err
		}
		if fixed {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// repair makes the subvolume at p (not followed) read-only if it is a
// received one left writable, and reports whether it did.
func repair(p string) (bool, error) {
	bd, err := btrfs.OpenDir(p)
	if err != nil {
		return false, err
	}
	defer bd.Close()
	info, err := bd.Info()
	if err != nil || info.ReceivedUUID.IsZero() || info.ReadOnly {
		return false, err
	}
	if err := bd.SetReadOnly(true); err != nil {
		return false, err
	}
	return true, nil
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
