package btrfs

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// sendArgs is struct btrfs_ioctl_send_args.
type sendArgs struct {
	SendFd            int64
	CloneSourcesCount uint64
	CloneSources      uintptr // __u64 __user *
	ParentRoot        uint64
	Flags             uint64
	Version           uint32
	_                 [28]byte
}

// Send flags (BTRFS_SEND_FLAG_*).
const (
	sendFlagVersion    = 0x8
	sendFlagCompressed = 0x10
)

var iocSend = ioc(iocWrite, 38, unsafe.Sizeof(sendArgs{}))

// SendOptions say how Send writes its stream.
type SendOptions struct {
	// Parent is the path of a read-only snapshot the receiver holds: the
	// stream is relative to it (also its clone source). "" sends in full.
	Parent string
	// Compressed writes compressed extents as they are on disk (stream
	// version 2): nothing is decompressed and compressed again. The
	// kernel's /sys/fs/btrfs/features/send_stream_version says whether it
	// can.
	Compressed bool
}

// Send writes the send stream of the read-only snapshot at path to w
// (BTRFS_IOC_SEND, as `btrfs send`), blocking until the kernel has written
// all of it or w fails (EPIPE when its reader went away).
func (fs *FS) Send(path string, w *os.File, o SendOptions) error {
	snap, err := fs.openSubvolume(path)
	if err != nil {
		return fmt.Errorf("send %s: %w", path, err)
	}
	defer snap.Close()
	args := sendArgs{SendFd: int64(w.Fd())}
	// On the heap: it does not move while the kernel reads it.
	clone := new(uint64)
	if o.Parent != "" {
		info, err := fs.Info(o.Parent)
		if err != nil {
			return fmt.Errorf("send %s: parent: %w", path, err)
		}
		args.ParentRoot, *clone = info.ID, info.ID
		args.CloneSourcesCount, args.CloneSources = 1, uintptr(unsafe.Pointer(clone))
	}
	if o.Compressed {
		args.Flags |= sendFlagVersion | sendFlagCompressed
		args.Version = 2
	}
	err = ioctl(snap, iocSend, unsafe.Pointer(&args))
	runtime.KeepAlive(w)
	runtime.KeepAlive(clone)
	if err != nil {
		return fmt.Errorf("send %s: %w", path, err)
	}
	return nil
}

// SendStreamVersion returns the newest send stream version the running
// kernel writes (1 when sysfs does not say).
func SendStreamVersion(sysfs string) int {
	b, err := os.ReadFile(sysfs + "/fs/btrfs/features/send_stream_version")
	if err != nil {
		return 1
	}
	v := 0
	fmt.Sscanf(string(b), "%d", &v)
	return max(v, 1)
}
