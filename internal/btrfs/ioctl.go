package btrfs

import (
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Argument layouts of the btrfs ioctls we issue ourselves, mirroring
// include/uapi/linux/btrfs.h; ioctl_test.go checks their sizes.

// volArgsV2 is struct btrfs_ioctl_vol_args_v2. Name is a union with the u64
// subvolid used by SNAP_DESTROY_V2 with subvolSpecByID.
type volArgsV2 struct {
	Fd      int64
	TransID uint64
	Flags   uint64
	_       [4]uint64
	Name    [4040]byte
}

// timespec is struct btrfs_ioctl_timespec (padded to 16 bytes).
type timespec struct {
	Sec  uint64
	Nsec uint32
	_    uint32
}

// getSubvolInfoArgs is struct btrfs_ioctl_get_subvol_info_args.
type getSubvolInfoArgs struct {
	TreeID       uint64
	Name         [256]byte
	ParentID     uint64
	DirID        uint64
	Generation   uint64
	Flags        uint64
	UUID         UUID
	ParentUUID   UUID
	ReceivedUUID UUID
	CTransID     uint64
	OTransID     uint64
	STransID     uint64
	RTransID     uint64
	CTime        timespec
	OTime        timespec
	STime        timespec
	RTime        timespec
	_            [8]uint64
}

// searchKey is struct btrfs_ioctl_search_key.
type searchKey struct {
	TreeID      uint64
	MinObjectID uint64
	MaxObjectID uint64
	MinOffset   uint64
	MaxOffset   uint64
	MinTransID  uint64
	MaxTransID  uint64
	MinType     uint32
	MaxType     uint32
	NrItems     uint32
	_           uint32
	_           [4]uint64
}

// searchArgsV2 is struct btrfs_ioctl_search_args_v2 without its trailing
// flexible buffer of BufSize bytes.
type searchArgsV2 struct {
	Key     searchKey
	BufSize uint64
}

// searchHeader is struct btrfs_ioctl_search_header, one before each item.
type searchHeader struct {
	TransID  uint64
	ObjectID uint64
	Offset   uint64
	Type     uint32
	Len      uint32
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	TreeID   uint64
	ObjectID uint64
	Name     [4080]byte
}

const (
	subvolReadOnly = 1 << 1 // BTRFS_SUBVOL_RDONLY
	subvolSpecByID = 1 << 4 // BTRFS_SUBVOL_SPEC_BY_ID, kernel >= 5.7
	fsNoCoWFlag    = 0x00800000
)

const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 0x94<<8 | nr }

var (
	iocSync           = ioc(iocNone, 8, 0)
	iocTreeSearchV2   = ioc(iocRead|iocWrite, 17, unsafe.Sizeof(searchArgsV2{}))
	iocInoLookup      = ioc(iocRead|iocWrite, 18, unsafe.Sizeof(inoLookupArgs{}))
	iocSnapCreateV2   = ioc(iocWrite, 23, unsafe.Sizeof(volArgsV2{}))
	iocSubvolCreateV2 = ioc(iocWrite, 24, unsafe.Sizeof(volArgsV2{}))
	iocSubvolGetFlags = ioc(iocRead, 25, 8)
	iocSubvolSetFlags = ioc(iocWrite, 26, 8)
	iocGetSubvolInfo  = ioc(iocRead, 60, unsafe.Sizeof(getSubvolInfoArgs{}))
	iocSnapDestroyV2  = ioc(iocWrite, 63, unsafe.Sizeof(volArgsV2{}))
)

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg))
	runtime.KeepAlive(f)
	if errno != 0 {
		return errno
	}
	return nil
}
