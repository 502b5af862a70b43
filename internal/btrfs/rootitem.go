package btrfs

import (
	"bytes"
	"fmt"
	"time"
)

// rootSubvolReadOnly is BTRFS_ROOT_SUBVOL_RDONLY in root_item.flags (and in
// the flags of GET_SUBVOL_INFO).
const rootSubvolReadOnly = 1 << 0

// Byte offsets in the packed struct btrfs_root_item.
const (
	rootItemGeneration   = 160
	rootItemFlags        = 208
	rootItemGenerationV2 = 239
	rootItemUUID         = 247
	rootItemParentUUID   = 263
	rootItemReceivedUUID = 279
	rootItemOTransID     = 303
	rootItemOTime        = 339
	rootItemSize         = 439
)

// decodeRootItem decodes the fields of Subvolume held by a ROOT_ITEM. UUIDs,
// otransid and otime exist only in v2 items, which every kernel since 3.x
// writes; generation_v2 != generation marks an item last written by an older
// kernel.
func decodeRootItem(id uint64, b []byte) (Subvolume, error) {
	if len(b) < rootItemFlags+8 {
		return Subvolume{}, fmt.Errorf("root item of subvolume %d: %d bytes", id, len(b))
	}
	s := Subvolume{
		ID:         id,
		Generation: le.Uint64(b[rootItemGeneration:]),
		ReadOnly:   le.Uint64(b[rootItemFlags:])&rootSubvolReadOnly != 0,
	}
	if len(b) >= rootItemSize && le.Uint64(b[rootItemGenerationV2:]) == s.Generation {
		copy(s.UUID[:], b[rootItemUUID:])
		copy(s.ParentUUID[:], b[rootItemParentUUID:])
		copy(s.ReceivedUUID[:], b[rootItemReceivedUUID:])
		s.OTransID = le.Uint64(b[rootItemOTransID:])
		sec, nsec := le.Uint64(b[rootItemOTime:]), le.Uint32(b[rootItemOTime+8:])
		s.OTime = time.Unix(int64(sec), int64(nsec)).UTC()
	}
	return s, nil
}

// decodeRootRef decodes a ROOT_REF or ROOT_BACKREF item (struct
// btrfs_root_ref followed by the name): the directory inode in the parent
// subvolume that holds the subvolume, and its name there (in b).
func decodeRootRef(b []byte) (dir uint64, name []byte, err error) {
	const size = 18
	if len(b) < size || len(b) < size+int(le.Uint16(b[16:])) {
		return 0, nil, fmt.Errorf("root ref: %d bytes", len(b))
	}
	return le.Uint64(b), b[size : size+int(le.Uint16(b[16:]))], nil
}

// decodeDirItem decodes a DIR_ITEM (struct btrfs_dir_item followed by the
// name): the object id of its location key and its name.
func decodeDirItem(b []byte) (location uint64, name []byte, err error) {
	const size = 30
	if len(b) < size || len(b) < size+int(le.Uint16(b[27:])) {
		return 0, nil, fmt.Errorf("dir item: %d bytes", len(b))
	}
	return le.Uint64(b), b[size : size+int(le.Uint16(b[27:]))], nil
}

// cString returns b up to its first NUL byte.
func cString(b []byte) string { return string(cBytes(b)) }

// cBytes returns b up to its first NUL byte.
func cBytes(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b
}
