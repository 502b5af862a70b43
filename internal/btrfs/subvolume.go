package btrfs

import (
	"fmt"
	"os"
	"time"
	"unsafe"
)

// Subvolume describes one subvolume.
type Subvolume struct {
	ID         uint64
	ParentID   uint64    // the containing subvolume; 5 for the top level
	Path       string    // relative to the top level
	OTime      time.Time // creation time (UTC); a snapshot's age
	ReadOnly   bool
	Generation uint64 // the last transaction that wrote its tree, or snapshotted it
	// OTransID is the transaction that created it; for a snapshot, the one
	// in which it was identical to its source.
	OTransID   uint64
	UUID       UUID
	ParentUUID UUID // the snapshot's source; zero for a plain subvolume
	// ReceivedUUID is the UUID of the subvolume btrfs receive made it
	// from (set when the stream completed); zero for one not received.
	ReceivedUUID UUID
}

// CreateSubvolume creates an empty subvolume at path; its parent directory
// must exist. An existing path gives an error matching ErrExist.
func (fs *FS) CreateSubvolume(path string) error {
	if err := fs.create(path, nil, false); err != nil {
		return fmt.Errorf("create subvolume %s: %w", path, err)
	}
	return nil
}

// Snapshot creates a snapshot of the subvolume src at dst, read-only if
// readOnly. dst must not exist (ErrExist): unlike `btrfs subvolume snapshot`
// it never creates the snapshot inside an existing directory.
func (fs *FS) Snapshot(src, dst string, readOnly bool) error {
	s, err := fs.openSubvolume(src)
	if err == nil {
		defer s.Close()
		err = fs.create(dst, s, readOnly)
	}
	if err != nil {
		return fmt.Errorf("snapshot %s to %s: %w", src, dst, err)
	}
	return nil
}

// create makes a subvolume at path: a snapshot of src if it is not nil.
func (fs *FS) create(path string, src *os.File, readOnly bool) error {
	dir, name, err := fs.openParent(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	var args volArgsV2
	if len(name) >= len(args.Name) {
		return fmt.Errorf("%w %q: name too long", ErrInvalidPath, path)
	}
	copy(args.Name[:], name)
	if readOnly {
		args.Flags |= subvolReadOnly
	}
	req := iocSubvolCreateV2
	if src != nil {
		args.Fd = int64(src.Fd())
		req = iocSnapCreateV2
	}
	return ioctl(dir, req, unsafe.Pointer(&args))
}

// Info returns the subvolume whose root is path. It uses the unprivileged
// GET_SUBVOL_INFO ioctl.
func (fs *FS) Info(path string) (Subvolume, error) {
	f, err := fs.openSubvolume(path)
	if err != nil {
		return Subvolume{}, fmt.Errorf("subvolume info %s: %w", path, err)
	}
	defer f.Close()
	return subvolInfo(f, path)
}

// subvolInfo is GET_SUBVOL_INFO on f, the root of a subvolume; errors
// name it as name.
func subvolInfo(f *os.File, name string) (Subvolume, error) {
	var a getSubvolInfoArgs
	if err := ioctl(f, iocGetSubvolInfo, unsafe.Pointer(&a)); err != nil {
		return Subvolume{}, fmt.Errorf("subvolume info %s: %w", name, err)
	}
	return Subvolume{
		ID:           a.TreeID,
		ParentID:     a.ParentID,
		Path:         f.Name(),
		OTime:        time.Unix(int64(a.OTime.Sec), int64(a.OTime.Nsec)).UTC(),
		ReadOnly:     a.Flags&rootSubvolReadOnly != 0,
		Generation:   a.Generation,
		OTransID:     a.OTransID,
		UUID:         a.UUID,
		ParentUUID:   a.ParentUUID,
		ReceivedUUID: a.ReceivedUUID,
	}, nil
}

// ReadOnly reports whether the subvolume at path is read-only.
func (fs *FS) ReadOnly(path string) (bool, error) {
	f, err := fs.openSubvolume(path)
	if err != nil {
		return false, fmt.Errorf("get read-only flag of %s: %w", path, err)
	}
	defer f.Close()
	var flags uint64
	if err := ioctl(f, iocSubvolGetFlags, unsafe.Pointer(&flags)); err != nil {
		return false, fmt.Errorf("get read-only flag of %s: %w", path, err)
	}
	return flags&subvolReadOnly != 0, nil
}

// SetReadOnly makes the subvolume at path read-only or writable.
func (fs *FS) SetReadOnly(path string, readOnly bool) error {
	f, err := fs.openSubvolume(path)
	if err == nil {
		defer f.Close()
		var flags uint64
		if err = ioctl(f, iocSubvolGetFlags, unsafe.Pointer(&flags)); err == nil {
			flags &^= subvolReadOnly
			if readOnly {
				flags |= subvolReadOnly
			}
			err = ioctl(f, iocSubvolSetFlags, unsafe.Pointer(&flags))
		}
	}
	if err != nil {
		return fmt.Errorf("set read-only=%t on %s: %w", readOnly, path, err)
	}
	return nil
}
