package btrfs

import "fmt"

// DeleteMany deletes each subvolume of ids like Delete, but reads the mount
// table and the default subvolume once for all of them, so that pruning
// thousands of snapshots costs one ioctl each. It calls done (if not nil)
// after each id with its error, goes on past a failure, and returns the
// number deleted. Like Delete it refuses the top level, the default
// subvolume and anything mounted, and a subvolume with nested ones fails with
// ErrNotEmpty. The mount table is read once: a subvolume mounted during the
// call is not noticed.
func (fs *FS) DeleteMany(ids []uint64, done func(id uint64, err error)) (int, error) {
	def, err := fs.DefaultSubvolume()
	if err != nil {
		return 0, err
	}
	mounted, err := fs.MountedSubvolumes()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var err error
		switch {
		case id == topLevelID:
			err = fmt.Errorf("%w: %d is the top level", ErrProtected, id)
		case id == def:
			err = fmt.Errorf("%w: %d is the default subvolume", ErrProtected, id)
		case len(mounted[id]) > 0:
			err = fmt.Errorf("%w at %s (id %d)", ErrMounted, mounted[id][0].Mountpoint, id)
		default:
			err = fs.destroy(id)
		}
		if err != nil {
			err = fmt.Errorf("delete subvolume %d: %w", id, err)
		} else {
			n++
		}
		if done != nil {
			done(id, err)
		}
	}
	return n, nil
}
