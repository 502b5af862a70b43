package btrfs

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// List returns every subvolume of the filesystem except the top level,
// sorted by id (which is creation order). Subvolumes deleted but not yet
// cleaned are left out. It needs CAP_SYS_ADMIN.
//
// One TREE_SEARCH_V2 walk of the root tree gives each subvolume's ROOT_ITEM
// (otime, flags, generation, UUIDs) and ROOT_BACKREF (containing subvolume,
// directory, name); an INO_LOOKUP per distinct directory completes the paths.
func (fs *FS) List() ([]Subvolume, error) {
	var subs []entry
	err := fs.search(rootTreeID,
		key{firstFreeObjectID, rootItemKey, 0},
		key{lastFreeObjectID, rootBackrefKey, math.MaxUint64},
		func(k key, data []byte) error {
			switch k.Type {
			case rootItemKey:
				s, err := decodeRootItem(k.ObjectID, data)
				subs = append(subs, entry{Subvolume: s})
				return err
			case rootBackrefKey: // follows the ROOT_ITEM of the same id
				if n := len(subs); n > 0 && subs[n-1].ID == k.ObjectID {
					var err error
					subs[n-1].ParentID = k.Offset
					subs[n-1].dir, subs[n-1].name, err = decodeRootRef(data)
					return err
				}
			}
			return nil // ROOT_REF items of the same range
		})
	if err != nil {
		return nil, fmt.Errorf("list subvolumes: %w", err)
	}
	// Without a backref a subvolume is deleted and waits for the cleaner.
	subs = slices.DeleteFunc(subs, func(e entry) bool { return e.ParentID == 0 })
	r := resolver{fs: fs, subs: subs, dirs: map[[2]uint64]string{}}
	out := make([]Subvolume, len(subs))
	for i := range subs {
		if err := r.resolve(i, 0); err != nil {
			return nil, fmt.Errorf("list subvolumes: %w", err)
		}
		out[i] = subs[i].Subvolume
	}
	return out, nil
}

// entry is a subvolume whose path is still to be resolved from its backref.
type entry struct {
	Subvolume
	dir  uint64 // directory inode in the parent subvolume
	name string
}

type resolver struct {
	fs   *FS
	subs []entry              // sorted by id
	dirs map[[2]uint64]string // {tree, dir inode} -> path with trailing "/"
}

// resolve sets subs[i].Path from its parent's path, its directory in the
// parent and its name.
func (r *resolver) resolve(i, depth int) error {
	e := &r.subs[i]
	if e.Path != "" {
		return nil
	}
	if depth > len(r.subs) {
		return fmt.Errorf("subvolume %d: parent loop", e.ID)
	}
	var parent string
	if e.ParentID != topLevelID {
		j, ok := slices.BinarySearchFunc(r.subs, e.ParentID, func(e entry, id uint64) int {
			return cmp.Compare(e.ID, id)
		})
		if !ok {
			return fmt.Errorf("subvolume %d: parent %d not found", e.ID, e.ParentID)
		}
		if err := r.resolve(j, depth+1); err != nil {
			return err
		}
		parent = r.subs[j].Path + "/"
	}
	dir, err := r.dirPath(e.ParentID, e.dir)
	if err != nil {
		return fmt.Errorf("subvolume %d: %w", e.ID, err)
	}
	e.Path = parent + dir + e.name
	return nil
}

// dirPath returns the path of directory inode dir inside subvolume tree,
// with a trailing "/", or "" for the subvolume's root.
func (r *resolver) dirPath(tree, dir uint64) (string, error) {
	if dir == firstFreeObjectID {
		return "", nil
	}
	k := [2]uint64{tree, dir}
	if p, ok := r.dirs[k]; ok {
		return p, nil
	}
	args := inoLookupArgs{TreeID: tree, ObjectID: dir}
	if err := ioctl(r.fs.top, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return "", fmt.Errorf("look up directory %d in subvolume %d: %w", dir, tree, err)
	}
	p := cString(args.Name[:])
	r.dirs[k] = p
	return p, nil
}
