package btrfstest

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// unmountDevice unmounts every mount whose source is dev, the newest first
// so that a mount stacked on another one goes before it.
func unmountDevice(dev string) error {
	for range 3 { // a lazy unmount may leave an entry behind for a moment
		mounts, err := mountsOf(dev)
		if err != nil || len(mounts) == 0 {
			return err
		}
		var errs []error
		for _, m := range slices.Backward(mounts) {
			errs = append(errs, unmount(m.Mountpoint))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is still mounted", dev)
}

func mountsOf(dev string) ([]mountinfo.Mount, error) {
	all, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(m mountinfo.Mount) bool { return m.Source != dev }), nil
}

// unmount unmounts dir, lazily when it is busy.
func unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: not a mountpoint (any more)
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	return nil
}
