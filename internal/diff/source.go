package diff

import (
	"errors"
	"fmt"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// ErrNotFromBlank is returned for a live subvolume that is neither a snapshot
// of its configured blank nor the subvolume the blank was snapshotted from:
// inode numbers then mean nothing across the two.
var ErrNotFromBlank = errors.New("the live subvolume is not a snapshot of its blank")

// Source says what a subvolume was compared with.
type Source struct {
	Live  btrfs.Subvolume
	Blank btrfs.Subvolume // zero without a blank
	// Since is the transaction in which the two were identical: what the
	// live subvolume changed after it is what the next boot erases (0
	// without a blank: everything).
	Since uint64
	// Captured is set when the blank is a snapshot of the live subvolume
	// (captured from it since the last boot, e.g. by provision
	// --blank-from) rather than the subvolume it was reset from.
	Captured bool
}

// NewSource relates the live subvolume of sv to its blank (zero when sv has
// none). One of the two must be a snapshot of the other, so that they share
// inode numbers and every tree block not written since the snapshot; Since
// is then the snapshot's creating transaction (otransid):
//
//   - live.ParentUUID = blank.UUID: the boot reset the live subvolume from
//     the blank; Since is the live subvolume's otransid.
//   - blank.ParentUUID = live.UUID: the blank was captured from the live
//     subvolume (a freshly converted server before its first boot with
//     impermanence, or a blank re-captured after an upgrade); Since is the
//     blank's otransid.
//
// Otherwise it fails with ErrNotFromBlank.
func NewSource(sv config.Subvolume, live, blank btrfs.Subvolume) (Source, error) {
	src := Source{Live: live, Blank: blank}
	switch {
	case sv.Blank == "":
	case !blank.UUID.IsZero() && live.ParentUUID == blank.UUID:
		src.Since = live.OTransID
	case !live.UUID.IsZero() && blank.ParentUUID == live.UUID:
		src.Since, src.Captured = blank.OTransID, true
	default:
		return src, fmt.Errorf("%s (parent %s) and %s (%s): %w; the comparison needs the blank it was reset from (was the blank re-captured since the last boot?)",
			sv.Name, live.ParentUUID, sv.Blank, blank.UUID, ErrNotFromBlank)
	}
	return src, nil
}
