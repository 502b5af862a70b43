package btrfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"
)

// Trees and item types of the on-disk format (include/uapi/linux/btrfs_tree.h).
const (
	rootTreeID       = 1
	rootTreeDirID    = 6 // BTRFS_ROOT_TREE_DIR_OBJECTID: holds the "default" dir item
	lastFreeObjectID = math.MaxUint64 - 255
	dirItemKey       = 84
	rootItemKey      = 132
	rootBackrefKey   = 144
	rootRefKey       = 156
	// searchBuf is the result buffer of one TREE_SEARCH_V2 call. As for
	// btrfs-progs, 64 KiB: larger buffers measured no faster (4 MiB slower).
	searchBuf         = 64 << 10
	searchHeaderBytes = int(unsafe.Sizeof(searchHeader{}))
)

// key is a btrfs key; keys sort by objectid, then type, then offset.
type key struct {
	ObjectID uint64
	Type     uint32
	Offset   uint64
}

// next returns the smallest key after k, and false if k is the largest.
func (k key) next() (key, bool) {
	switch {
	case k.Offset < math.MaxUint64:
		k.Offset++
	case k.Type < math.MaxUint8:
		k.Type, k.Offset = k.Type+1, 0
	case k.ObjectID < math.MaxUint64:
		k.ObjectID, k.Type, k.Offset = k.ObjectID+1, 0, 0
	default:
		return k, false
	}
	return k, true
}

// search calls fn for every item of tree whose key lies between lo and hi
// inclusive, in key order, using TREE_SEARCH_V2 (CAP_SYS_ADMIN). The data
// passed to fn is valid only during the call.
func (fs *FS) search(tree uint64, lo, hi key, fn func(k key, data []byte) error) error {
	return fs.searchFrom(tree, 0, lo, hi, fn)
}

// searchFrom is search restricted to tree blocks written at or after
// transaction minTrans (0: all). TREE_SEARCH_V2 skips older blocks, but
// every item of a block it returns is passed to fn, older or not, and for
// middle objectids items of any type: callers switch on the key.
func (fs *FS) searchFrom(tree, minTrans uint64, lo, hi key, fn func(k key, data []byte) error) error {
	return fs.searchIn(newSearchMem(searchBuf), tree, minTrans, lo, hi, fn)
}

const searchArgsBytes = int(unsafe.Sizeof(searchArgsV2{}))

// newSearchMem returns the memory of a TREE_SEARCH_V2 call with a result
// buffer of bufBytes (uint64s, for the arguments' alignment), for a caller
// that searches many times to reuse.
func newSearchMem(bufBytes int) []uint64 {
	return make([]uint64, (searchArgsBytes+bufBytes+7)/8)
}

// searchIn is searchFrom with the memory of the call given (newSearchMem).
func (fs *FS) searchIn(mem []uint64, tree, minTrans uint64, lo, hi key, fn func(k key, data []byte) error) error {
	return searchFile(fs.top, mem, tree, minTrans, lo, hi, fn)
}

// searchFile is searchIn through f, any file or directory of the
// filesystem (the tree search reads the trees of the whole filesystem,
// whichever subvolume f is in).
func searchFile(f *os.File, mem []uint64, tree, minTrans uint64, lo, hi key, fn func(k key, data []byte) error) error {
	for {
		last, n, err := searchBatch(f, mem, tree, minTrans, lo, hi, fn)
		if err != nil || n == 0 {
			return err
		}
		next, ok := last.next()
		if !ok || last == hi {
			return nil
		}
		lo = next
	}
}

// searchBatch is one TREE_SEARCH_V2 call: it passes the items that fit in
// mem's buffer to fn and returns the last one's key and their number.
func (fs *FS) searchBatch(mem []uint64, tree, minTrans uint64, lo, hi key, fn func(k key, data []byte) error) (key, uint32, error) {
	return searchBatch(fs.top, mem, tree, minTrans, lo, hi, fn)
}

// searchBatch is FS.searchBatch through f (see searchFile).
func searchBatch(f *os.File, mem []uint64, tree, minTrans uint64, lo, hi key, fn func(k key, data []byte) error) (key, uint32, error) {
	args := (*searchArgsV2)(unsafe.Pointer(&mem[0]))
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), len(mem)*8)[searchArgsBytes:]
	args.Key = searchKey{
		TreeID:      tree,
		MinObjectID: lo.ObjectID, MinType: lo.Type, MinOffset: lo.Offset,
		MaxObjectID: hi.ObjectID, MaxType: hi.Type, MaxOffset: hi.Offset,
		MinTransID: minTrans, MaxTransID: math.MaxUint64,
		NrItems: math.MaxUint32,
	}
	args.BufSize = uint64(len(buf))
	if err := ioctl(f, iocTreeSearchV2, unsafe.Pointer(args)); err != nil {
		return key{}, 0, fmt.Errorf("tree search: %w", err)
	}
	n := args.Key.NrItems
	var last key
	off := 0
	for range n {
		if off+searchHeaderBytes > len(buf) {
			return key{}, 0, errors.New("tree search: truncated result")
		}
		h := buf[off : off+searchHeaderBytes] // struct searchHeader, maybe unaligned
		last = key{ne.Uint64(h[8:]), ne.Uint32(h[24:]), ne.Uint64(h[16:])}
		off += searchHeaderBytes
		end := off + int(ne.Uint32(h[28:]))
		if end > len(buf) {
			return key{}, 0, errors.New("tree search: truncated item")
		}
		if err := fn(last, buf[off:end]); err != nil {
			return key{}, 0, err
		}
		off = end
	}
	return last, n, nil
}

// le is the byte order of on-disk items, ne that of the ioctl headers.
var (
	le = binary.LittleEndian
	ne = binary.NativeEndian
)
