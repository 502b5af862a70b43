package btrfs

import (
	"fmt"
	"math"
)

// extentDataKey is BTRFS_EXTENT_DATA_KEY: one item per file extent, keyed
// (inode, 108, file offset).
const extentDataKey = 108

// Kinds of a file extent (BTRFS_FILE_EXTENT_*).
const (
	ExtentInline   = 0
	ExtentRegular  = 1
	ExtentPrealloc = 2
)

// FileExtent is an EXTENT_DATA item of a subvolume's file tree: one range
// of a file and the data extent holding it.
type FileExtent struct {
	Ino, FileOffset uint64
	Kind            uint8 // Extent*
	Compression     uint8 // 0 none, 1 zlib, 2 lzo, 3 zstd
	// RAMBytes is the uncompressed size of the whole data extent (of the
	// inline data for an inline extent).
	RAMBytes uint64
	// DiskBytenr and DiskBytes are the data extent's logical address and
	// its size on disk (compressed); DiskBytenr is 0 for a hole, and both
	// are 0 for an inline extent.
	DiskBytenr, DiskBytes uint64
	// NumBytes is how much of the extent (uncompressed) this item
	// references; for an inline extent, RAMBytes.
	NumBytes uint64
	// InlineBytes is the data an inline extent stores in the item itself
	// (compressed when Compression is set).
	InlineBytes uint64
}

// Byte offsets in the packed struct btrfs_file_extent_item.
const (
	fileExtentRAMBytes    = 8
	fileExtentCompression = 16
	fileExtentType        = 20
	fileExtentInlineData  = 21 // inline data starts where disk_bytenr would
	fileExtentDiskBytenr  = 21
	fileExtentDiskBytes   = 29
	fileExtentNumBytes    = 45
	fileExtentItemSize    = 53
)

// FileExtents calls fn for every file extent item of subvolume id, in key
// order, with one TREE_SEARCH_V2 walk of its file tree (CAP_SYS_ADMIN), as
// compsize reads them. With minTrans > 0 it skips every tree block written
// before transaction minTrans: a snapshot's blocks older than that are
// shared, unchanged, with whatever tree they were copied from, so the walk
// returns only the items that can differ (and every other item of the
// leaves that changed).
func (fs *FS) FileExtents(id, minTrans uint64, fn func(FileExtent) error) error {
	err := fs.searchFrom(id, minTrans, key{0, extentDataKey, 0}, key{math.MaxUint64, extentDataKey, math.MaxUint64},
		func(k key, data []byte) error {
			if k.Type != extentDataKey {
				return nil
			}
			e, err := decodeFileExtent(k, data)
			if err != nil {
				return err
			}
			return fn(e)
		})
	if err != nil {
		return fmt.Errorf("file extents of subvolume %d: %w", id, err)
	}
	return nil
}

func decodeFileExtent(k key, b []byte) (FileExtent, error) {
	if len(b) < fileExtentInlineData {
		return FileExtent{}, fmt.Errorf("file extent item (%d, %d): %d bytes", k.ObjectID, k.Offset, len(b))
	}
	e := FileExtent{
		Ino: k.ObjectID, FileOffset: k.Offset,
		Kind:        b[fileExtentType],
		Compression: b[fileExtentCompression],
		RAMBytes:    le.Uint64(b[fileExtentRAMBytes:]),
	}
	if e.Kind == ExtentInline {
		e.NumBytes = e.RAMBytes
		e.InlineBytes = uint64(len(b) - fileExtentInlineData)
		return e, nil
	}
	if len(b) < fileExtentItemSize {
		return FileExtent{}, fmt.Errorf("file extent item (%d, %d): %d bytes", k.ObjectID, k.Offset, len(b))
	}
	e.DiskBytenr = le.Uint64(b[fileExtentDiskBytenr:])
	e.DiskBytes = le.Uint64(b[fileExtentDiskBytes:])
	e.NumBytes = le.Uint64(b[fileExtentNumBytes:])
	return e, nil
}
