package btrfs

import (
	"errors"
	"fmt"
	"math"
)

const (
	devTreeID    = 4   // BTRFS_DEV_TREE_OBJECTID
	devExtentKey = 204 // BTRFS_DEV_EXTENT_KEY
)

// DevExtent is one allocated range of a member device: the physical part of
// a chunk, and the unit in which scrub resumes (the kernel scrubs the dev
// extent that holds the start offset again from its beginning).
type DevExtent struct {
	Offset, Length uint64
}

// DevExtents returns the allocated ranges of device devid, by physical
// offset, from the device tree (as btrfs inspect-internal dump-tree -t dev).
func (fs *FS) DevExtents(devid uint64) ([]DevExtent, error) {
	var out []DevExtent
	err := fs.search(devTreeID, key{devid, devExtentKey, 0}, key{devid, devExtentKey, math.MaxUint64},
		func(k key, data []byte) error {
			if k.ObjectID != devid || k.Type != devExtentKey {
				return nil
			}
			// struct btrfs_dev_extent: chunk_tree, chunk_objectid,
			// chunk_offset, length, chunk_tree_uuid.
			if len(data) < 32 {
				return errors.New("short dev extent item")
			}
			out = append(out, DevExtent{Offset: k.Offset, Length: le.Uint64(data[24:])})
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("dev extents of device %d: %w", devid, err)
	}
	return out, nil
}
