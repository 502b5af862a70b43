package btrfs

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MountTopLevel mounts the top level (subvolid=5) of device on a new
// directory under runDir named after prefix (nosuid, nodev, noexec;
// read-only when asked), and makes the mount private so it never propagates
// into other mount namespaces. The returned function unmounts it (lazily if
// it is busy) and removes the directory.
func MountTopLevel(device, runDir, prefix string, readOnly bool) (string, func() error, error) {
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create %s: %w", runDir, err)
	}
	dir, err := os.MkdirTemp(runDir, prefix+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create mount dir: %w", err)
	}
	var flags uintptr = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(device, dir, "btrfs", flags, "subvolid=5"); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount top level of %s: %w", device, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
		return "", nil, fmt.Errorf("make %s private: %w", dir, err)
	}
	return dir, func() error {
		err := unix.Unmount(dir, 0)
		if err != nil {
			err = unix.Unmount(dir, unix.MNT_DETACH)
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		return os.Remove(dir)
	}, nil
}
