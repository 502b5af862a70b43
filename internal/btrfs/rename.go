package btrfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Exchange atomically swaps a and b (renameat2 RENAME_EXCHANGE); both must
// exist. It works on subvolumes, also mounted ones, and is durable after the
// next Commit.
func (fs *FS) Exchange(a, b string) error {
	if err := fs.rename(a, b, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchange %s and %s: %w", a, b, err)
	}
	return nil
}

// Rename renames from to to (renameat2 RENAME_NOREPLACE): an existing to
// gives ErrExist. Moving a plain directory into another subvolume fails with
// EXDEV; nothing is ever copied.
func (fs *FS) Rename(from, to string) error {
	if err := fs.rename(from, to, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return nil
}

func (fs *FS) rename(from, to string, flags uint) error {
	fdir, fname, err := fs.openParent(from)
	if err != nil {
		return err
	}
	defer fdir.Close()
	tdir, tname, err := fs.openParent(to)
	if err != nil {
		return err
	}
	defer tdir.Close()
	return unix.Renameat2(int(fdir.Fd()), fname, int(tdir.Fd()), tname, flags)
}
