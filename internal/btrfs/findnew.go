package btrfs

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"
)

// Item types of a subvolume's file tree (include/uapi/linux/btrfs_tree.h).
const (
	inodeItemKey = 1
	inodeRefKey  = 12
	dirIndexKey  = 96
)

// File types of a directory entry (BTRFS_FT_*).
const (
	FTUnknown = 0
	FTRegular = 1
	FTDir     = 2
	FTChrdev  = 3
	FTBlkdev  = 4
	FTFifo    = 5
	FTSocket  = 6
	FTSymlink = 7
)

// Inode is an INODE_ITEM of a subvolume's file tree.
type Inode struct {
	Ino        uint64
	Generation uint64 // the transaction that created the inode
	TransID    uint64 // the last transaction that changed it (also for atime)
	Size       uint64
	Nlink      uint32
	UID, GID   uint32
	Mode       uint32 // st_mode: type and permission bits
	CTime      time.Time
	MTime      time.Time
}

// IsDir reports whether the inode is a directory.
func (i Inode) IsDir() bool { return i.Mode&0o170000 == 0o040000 }

// InodeRef is one name of an inode: its directory and its name there.
type InodeRef struct {
	Dir  uint64
	Name string
}

// ChangedInode is an inode changed after a generation, with the names found
// for it in the changed part of the tree (possibly none: see InodePath).
type ChangedInode struct {
	Inode
	Refs []InodeRef
	// Subvolumes are the entries of a changed directory that are nested
	// subvolumes, as far as they lie in the changed part of the tree
	// (all of them for a directory created after gen).
	Subvolumes []DirEntry
}

// DirEntry is a DIR_INDEX item: one entry of a directory.
type DirEntry struct {
	Name      string
	Ino       uint64 // inode, or subvolume id when Subvolume
	Type      uint8  // FT*
	Subvolume bool   // the entry is a nested subvolume (its location is a ROOT_ITEM)
}

// Changed returns every inode of subvolume id whose INODE_ITEM was written in
// a transaction after gen, sorted by inode number, as `btrfs subvolume
// find-new` finds changed files: one TREE_SEARCH_V2 over the subvolume's
// file tree with min_transid = gen+1, which skips every tree block (and so
// every file) not written since gen. With gen 0 it returns every inode.
//
// It needs CAP_SYS_ADMIN. An inode whose only change is its atime is
// included (its TransID moved); compare CTime to tell.
func (fs *FS) Changed(id, gen uint64) ([]ChangedInode, error) {
	var out []ChangedInode
	err := fs.searchFrom(id, gen+1, key{firstFreeObjectID, inodeItemKey, 0},
		key{lastFreeObjectID, dirIndexKey, math.MaxUint64},
		func(k key, data []byte) error {
			switch k.Type {
			case dirIndexKey:
				if n := len(out); n > 0 && out[n-1].Ino == k.ObjectID && len(data) > 8 && data[8] == rootItemKey {
					e, err := decodeDirEntry(data)
					if err != nil {
						return fmt.Errorf("directory %d: %w", k.ObjectID, err)
					}
					out[n-1].Subvolumes = append(out[n-1].Subvolumes, e)
				}
			case inodeItemKey:
				in, err := decodeInode(k.ObjectID, data)
				if err != nil {
					return err
				}
				if in.TransID > gen {
					out = append(out, ChangedInode{Inode: in})
				}
			case inodeRefKey:
				if n := len(out); n > 0 && out[n-1].Ino == k.ObjectID {
					refs, err := decodeInodeRefs(k.Offset, data)
					if err != nil {
						return fmt.Errorf("inode %d: %w", k.ObjectID, err)
					}
					out[n-1].Refs = append(out[n-1].Refs, refs...)
				}
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("changed inodes of subvolume %d since generation %d: %w", id, gen, err)
	}
	return out, nil
}

// Inode returns inode ino of subvolume id; ErrNotExist when there is none.
func (fs *FS) Inode(id, ino uint64) (Inode, error) {
	var in Inode
	found := false
	err := fs.search(id, key{ino, inodeItemKey, 0}, key{ino, inodeItemKey, math.MaxUint64},
		func(k key, data []byte) error {
			var err error
			in, err = decodeInode(k.ObjectID, data)
			found = err == nil
			return err
		})
	if err == nil && !found {
		err = ErrNotExist
	}
	if err != nil {
		return Inode{}, fmt.Errorf("inode %d of subvolume %d: %w", ino, id, err)
	}
	return in, nil
}

// ReadDir returns the entries of directory dir of subvolume id, in index
// (creation) order.
func (fs *FS) ReadDir(id, dir uint64) ([]DirEntry, error) {
	var out []DirEntry
	err := fs.search(id, key{dir, dirIndexKey, 0}, key{dir, dirIndexKey, math.MaxUint64},
		func(_ key, data []byte) error {
			e, err := decodeDirEntry(data)
			out = append(out, e)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("read directory %d of subvolume %d: %w", dir, id, err)
	}
	return out, nil
}

// InodePath returns the path of inode ino inside subvolume id, relative to
// the subvolume's root ("" for the root itself), from one INO_LOOKUP.
func (fs *FS) InodePath(id, ino uint64) (string, error) {
	if ino == firstFreeObjectID {
		return "", nil
	}
	args := inoLookupArgs{TreeID: id, ObjectID: ino}
	if err := ioctl(fs.top, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return "", fmt.Errorf("path of inode %d in subvolume %d: %w", ino, id, err)
	}
	return strings.TrimSuffix(cString(args.Name[:]), "/"), nil
}

// Byte offsets in the packed struct btrfs_inode_item.
const (
	inodeGeneration = 0
	inodeTransID    = 8
	inodeSize       = 16
	inodeNlink      = 40
	inodeUID        = 44
	inodeGID        = 48
	inodeMode       = 52
	inodeCTime      = 124
	inodeMTime      = 136
	inodeItemSize   = 160
)

func decodeInode(ino uint64, b []byte) (Inode, error) {
	if len(b) < inodeItemSize {
		return Inode{}, fmt.Errorf("inode item %d: %d bytes", ino, len(b))
	}
	ts := func(off int) time.Time {
		return time.Unix(int64(le.Uint64(b[off:])), int64(le.Uint32(b[off+8:]))).UTC()
	}
	return Inode{
		Ino:        ino,
		Generation: le.Uint64(b[inodeGeneration:]),
		TransID:    le.Uint64(b[inodeTransID:]),
		Size:       le.Uint64(b[inodeSize:]),
		Nlink:      le.Uint32(b[inodeNlink:]),
		UID:        le.Uint32(b[inodeUID:]),
		GID:        le.Uint32(b[inodeGID:]),
		Mode:       le.Uint32(b[inodeMode:]),
		CTime:      ts(inodeCTime),
		MTime:      ts(inodeMTime),
	}, nil
}

// decodeInodeRefs decodes an INODE_REF item: struct btrfs_inode_ref (index
// u64, name_len u16) followed by the name, repeated for every name of the
// inode in directory dir.
func decodeInodeRefs(dir uint64, b []byte) ([]InodeRef, error) {
	var out []InodeRef
	for len(b) > 0 {
		if len(b) < 10 || len(b) < 10+int(le.Uint16(b[8:])) {
			return nil, fmt.Errorf("inode ref: %d bytes", len(b))
		}
		n := int(le.Uint16(b[8:]))
		out = append(out, InodeRef{Dir: dir, Name: string(b[10 : 10+n])})
		b = b[10+n:]
	}
	return out, nil
}

// decodeDirEntry decodes a DIR_INDEX item: struct btrfs_dir_item (location
// key, transid, data_len, name_len, type) followed by the name.
func decodeDirEntry(b []byte) (DirEntry, error) {
	const size = 30
	if len(b) < size || len(b) < size+int(le.Uint16(b[27:])) {
		return DirEntry{}, fmt.Errorf("dir index: %d bytes", len(b))
	}
	return DirEntry{
		Ino:       le.Uint64(b),
		Subvolume: b[8] == rootItemKey,
		Type:      b[29],
		Name:      string(b[size : size+int(le.Uint16(b[27:]))]),
	}, nil
}
