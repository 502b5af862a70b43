package btrfs

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Child is a subvolume whose root is an entry of a directory.
type Child struct {
	Name string // its name in the directory
	// Subvolume is what its ROOT_ITEM says; Path is empty and ParentID
	// is the directory's subvolume.
	Subvolume
}

// rootItemRefs is the byte offset of refs (__le32) in struct
// btrfs_root_item: 0 once the subvolume is deleted, while its ROOT_ITEM
// waits for the cleaner.
const rootItemRefs = 216

// Children returns the subvolumes whose roots are entries of d (not
// deeper ones, not those elsewhere), sorted by name, without opening any
// of them: one TREE_SEARCH_V2 walk of the root tree, in which each
// subvolume's ROOT_BACKREF names the subvolume and directory inode that
// hold it and its name there, and its ROOT_ITEM (just before) the rest.
// A subvolume deleted but not yet cleaned is left out (it has no backref,
// and its ROOT_ITEM's refs is 0). Two calls besides the search (fstat,
// INO_LOOKUP of the directory's subvolume), whatever the number of
// entries.
//
// The search needs CAP_SYS_ADMIN: without it the error matches
// os.ErrPermission, and a caller can read the directory instead.
func (d *Dir) Children() ([]Child, error) {
	out, err := ChildrenOf([]*Dir{d})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ChildrenOf is Children of each of dirs, with one walk of the root tree
// per filesystem among them (and one FS_INFO per directory to tell).
func ChildrenOf(dirs []*Dir) ([][]Child, error) {
	out := make([][]Child, len(dirs))
	var order []UUID
	byFS := map[UUID]*children{}
	for i, d := range dirs {
		var fsid UUID // one filesystem when there is one directory
		if len(dirs) > 1 {
			var err error
			if fsid, err = d.FSID(); err != nil {
				return nil, fmt.Errorf("list subvolumes in %s: %w", d.Path(), err)
			}
		}
		c := byFS[fsid]
		if c == nil {
			c = &children{via: d, want: map[[2]uint64][]int{}, out: out}
			byFS[fsid] = c
			order = append(order, fsid)
		}
		at, err := d.where()
		if err != nil {
			return nil, fmt.Errorf("list subvolumes in %s: %w", d.Path(), err)
		}
		c.want[at] = append(c.want[at], i)
	}
	mem := newSearchMem(searchBuf)
	for _, fsid := range order {
		c := byFS[fsid]
		err := searchFile(c.via.f, mem, rootTreeID, 0,
			key{firstFreeObjectID, rootItemKey, 0}, key{lastFreeObjectID, rootBackrefKey, math.MaxUint64}, c.add)
		if err != nil {
			return nil, fmt.Errorf("list subvolumes in %s: %w", c.via.Path(), err)
		}
	}
	for _, o := range out {
		slices.SortFunc(o, func(a, b Child) int { return strings.Compare(a.Name, b.Name) })
	}
	return out, nil
}

// where returns the subvolume d is in (INO_LOOKUP of the subvolume root
// of tree 0, which needs no privilege) and d's inode number there.
func (d *Dir) where() ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.f.Fd()), &st); err != nil {
		return [2]uint64{}, &os.PathError{Op: "stat", Path: d.Path(), Err: err}
	}
	args := inoLookupArgs{ObjectID: firstFreeObjectID}
	if err := ioctl(d.f, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return [2]uint64{}, fmt.Errorf("subvolume of the directory: %w", err)
	}
	return [2]uint64{args.TreeID, st.Ino}, nil
}

// children collects, from the items of a root tree search in key order,
// the subvolumes held by the directories wanted: {subvolume, directory
// inode} -> the indexes in out of those asked for it.
type children struct {
	via  *Dir
	want map[[2]uint64][]int
	out  [][]Child
	// item is the last ROOT_ITEM seen, its id and whether it is a live
	// one (refs > 0, decoded): a ROOT_BACKREF of the same id follows it.
	item   Subvolume
	itemID uint64
	live   bool
}

// add takes one item of the search (ROOT_ITEM, ROOT_BACKREF; other
// types, as the search returns for objectids inside its range, are
// skipped).
func (c *children) add(k key, data []byte) error {
	switch k.Type {
	case rootItemKey:
		c.itemID, c.live = k.ObjectID, false
		if len(data) >= rootItemRefs+4 && le.Uint32(data[rootItemRefs:]) == 0 {
			return nil // deleted, waiting for the cleaner
		}
		s, err := decodeRootItem(k.ObjectID, data)
		if err != nil {
			return err
		}
		c.item, c.live = s, true
	case rootBackrefKey:
		if k.ObjectID != c.itemID || !c.live {
			return nil
		}
		dir, name, err := decodeRootRef(data)
		if err != nil {
			return fmt.Errorf("subvolume %d: %w", k.ObjectID, err)
		}
		idx := c.want[[2]uint64{k.Offset, dir}]
		if len(idx) == 0 {
			return nil
		}
		s := c.item
		s.ParentID = k.Offset
		ch := Child{Name: string(name), Subvolume: s}
		for _, i := range idx {
			c.out[i] = append(c.out[i], ch)
		}
		c.live = false // one backref per subvolume
	}
	return nil
}
