package btrfs

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unsafe"
)

// List returns every subvolume of the filesystem except the top level,
// sorted by id (which is creation order). Subvolumes deleted but not yet
// cleaned are left out. It needs CAP_SYS_ADMIN.
//
// One TREE_SEARCH_V2 walk of the root tree gives each subvolume's ROOT_ITEM
// (otime, flags, generation, UUIDs) and ROOT_BACKREF (containing subvolume,
// directory, name); an INO_LOOKUP per distinct directory completes the paths.
// The paths share one string and the names one buffer: a listing of 5,000
// subvolumes allocates a few dozen objects, not one per subvolume.
func (fs *FS) List() ([]Subvolume, error) {
	r := resolver{fs: fs, dirs: map[[2]uint64]span{}}
	err := fs.search(rootTreeID,
		key{firstFreeObjectID, rootItemKey, 0},
		key{lastFreeObjectID, rootBackrefKey, math.MaxUint64},
		func(k key, data []byte) error {
			switch k.Type {
			case rootItemKey:
				s, err := decodeRootItem(k.ObjectID, data)
				r.add(s)
				return err
			case rootBackrefKey: // follows the ROOT_ITEM of the same id
				if l := r.at(r.n - 1); r.n > 0 && l.ID == k.ObjectID {
					dir, name, err := decodeRootRef(data)
					l.ParentID = k.Offset
					l.backref = backref{dir: dir, name: span{len(r.names), len(name)}, path: span{-1, -1}}
					if len(r.names)+len(name) > cap(r.names) { // double, not append's 1.25
						r.names = slices.Grow(r.names, max(len(r.names), 16*listChunk))
					}
					r.names = append(r.names, name...)
					return err
				}
			}
			return nil // ROOT_REF items of the same range
		})
	if err != nil {
		return nil, fmt.Errorf("list subvolumes: %w", err)
	}
	// Without a backref a subvolume is deleted and waits for the cleaner.
	kept, total := 0, 0
	for i := range r.n {
		if r.at(i).ParentID == 0 {
			continue
		}
		n, err := r.length(i, 0)
		if err != nil {
			return nil, fmt.Errorf("list subvolumes: %w", err)
		}
		kept, total = kept+1, total+n
	}
	r.paths.Grow(total) // every path in one string, written once
	subs := make([]Subvolume, 0, kept)
	for i := range r.n {
		if l := r.at(i); l.ParentID != 0 {
			r.write(i)
			subs = append(subs, l.Subvolume)
		}
	}
	all := r.paths.String()
	for i, j := 0, 0; i < r.n; i++ {
		if l := r.at(i); l.ParentID != 0 {
			subs[j].Path = all[l.path.off : l.path.off+l.path.n]
			j++
		}
	}
	return subs, nil
}

// listed is a subvolume found and where it is.
type listed struct {
	Subvolume
	backref
}

// listChunk is how many subvolumes List collects in one allocation.
const listChunk = 512

// span is a slice of one of the resolver's buffers.
type span struct{ off, n int }

// backref is where a subvolume is: the directory inode in its parent
// subvolume and its name there, and then its path: its length (-1 before
// the resolver's first pass), where it is (-1 before the second) and the
// index of the parent (-1 for the top level).
type backref struct {
	dir        uint64
	name, path span
	dirPath    span
	parent     int
}

// resolver finds the paths of List's subvolumes in two passes: their lengths
// (and the directories' paths, with an INO_LOOKUP each), then the paths, each
// written once into one buffer of that size.
type resolver struct {
	fs     *FS
	chunks [][]listed // of listChunk each, sorted by id: no copy as the list grows
	n      int        // subvolumes in chunks
	names  []byte     // every backref's name
	paths  strings.Builder
	dirs   map[[2]uint64]span // {tree, dir inode} -> its path in dirBuf, with trailing "/"
	// dirBuf holds the directories' paths.
	dirBuf []byte
	// lastID and last are the last parent found (most share theirs).
	lastID uint64
	last   int
}

// add appends a subvolume found.
func (r *resolver) add(s Subvolume) {
	if r.n%listChunk == 0 {
		r.chunks = append(r.chunks, make([]listed, 0, listChunk))
	}
	c := &r.chunks[len(r.chunks)-1]
	*c = append(*c, listed{Subvolume: s})
	r.n++
}

// at returns the i-th subvolume found (nil for -1).
func (r *resolver) at(i int) *listed {
	if i < 0 {
		return nil
	}
	return &r.chunks[i/listChunk][i%listChunk]
}

// length returns the length of the path of subs[i]: its parent's, a "/", its
// directory's in the parent and its name.
func (r *resolver) length(i, depth int) (int, error) {
	e := r.at(i)
	if e.path.n >= 0 {
		return e.path.n, nil
	}
	if depth > r.n {
		return 0, fmt.Errorf("subvolume %d: parent loop", e.ID)
	}
	n := 0
	e.parent = -1
	if pid := e.ParentID; pid != topLevelID {
		j, err := r.index(pid)
		if err != nil {
			return 0, fmt.Errorf("subvolume %d: %w", e.ID, err)
		}
		pn, err := r.length(j, depth+1)
		if err != nil {
			return 0, err
		}
		e.parent, n = j, pn+1
	}
	dir, err := r.dirPath(e.ParentID, e.dir)
	if err != nil {
		return 0, fmt.Errorf("subvolume %d: %w", e.ID, err)
	}
	e.dirPath = dir
	e.path.n = n + dir.n + e.name.n
	return e.path.n, nil
}

// write writes the path of subs[i] (after its parent's) into paths.
func (r *resolver) write(i int) {
	e := r.at(i)
	if e.path.off >= 0 {
		return
	}
	e.path.off = r.paths.Len()
	if e.parent >= 0 {
		r.write(e.parent)
		e.path.off = r.paths.Len()
		p := r.at(e.parent).path
		r.paths.WriteString(r.paths.String()[p.off : p.off+p.n]) // within the capacity: no copy moves it
		r.paths.WriteByte('/')
	}
	r.paths.Write(r.dirBuf[e.dirPath.off : e.dirPath.off+e.dirPath.n])
	r.paths.Write(r.names[e.name.off : e.name.off+e.name.n])
}

// index returns the index of subvolume id among those found (the parent of
// a deleted subvolume's child is not found: the child is deleted too).
func (r *resolver) index(id uint64) (int, error) {
	if r.lastID == id {
		return r.last, nil
	}
	j, found := sort.Find(r.n, func(i int) int { return cmp.Compare(id, r.at(i).ID) })
	if !found || r.at(j).ParentID == 0 {
		return 0, fmt.Errorf("parent %d not found", id)
	}
	r.lastID, r.last = id, j
	return j, nil
}

// dirPath returns where dirBuf holds the path of directory inode dir inside
// subvolume tree, with a trailing "/", or an empty span for the subvolume's
// root.
func (r *resolver) dirPath(tree, dir uint64) (span, error) {
	if dir == firstFreeObjectID {
		return span{}, nil
	}
	k := [2]uint64{tree, dir}
	if p, ok := r.dirs[k]; ok {
		return p, nil
	}
	args := inoLookupArgs{TreeID: tree, ObjectID: dir}
	if err := ioctl(r.fs.top, iocInoLookup, unsafe.Pointer(&args)); err != nil {
		return span{}, fmt.Errorf("look up directory %d in subvolume %d: %w", dir, tree, err)
	}
	p := cBytes(args.Name[:])
	s := span{len(r.dirBuf), len(p)}
	r.dirBuf = append(r.dirBuf, p...)
	r.dirs[k] = s
	return s, nil
}
