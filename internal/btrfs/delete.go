package btrfs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Delete deletes the subvolume id (SNAP_DESTROY_V2 by id). It refuses with
// ErrMounted when the subvolume is mounted anywhere (the kernel would allow
// it and leave an empty "//deleted" mount), and with ErrProtected for the top
// level and the default subvolume. A subvolume that contains others fails
// with ErrNotEmpty; see DeleteRecursive. Deletion is asynchronous: the space
// comes back once the cleaner has run, see WaitDeleted.
func (fs *FS) Delete(id uint64) error {
	err := fs.checkDeletable([]uint64{id})
	if err == nil {
		err = fs.destroy(id)
	}
	if err != nil {
		return fmt.Errorf("delete subvolume %d: %w", id, err)
	}
	return nil
}

// DeleteRecursive deletes the subvolume at path and every subvolume nested
// in it, deepest first, by id, and returns the ids deleted in that order
// (on an error, those deleted before it). If any of them is mounted or
// protected it deletes nothing. A read-only subvolume holding others (an
// archive) is made writable first, which its nested ones need.
func (fs *FS) DeleteRecursive(path string) ([]uint64, error) {
	ids, err := fs.tree(path)
	if err == nil {
		err = fs.checkDeletable(ids)
	}
	if err != nil {
		return nil, fmt.Errorf("delete subvolume %s recursively: %w", path, err)
	}
	if err := fs.writableParents(ids); err != nil {
		return nil, fmt.Errorf("delete subvolume %s recursively: %w", path, err)
	}
	for i, id := range ids {
		if err := fs.destroy(id); err != nil {
			return ids[:i], fmt.Errorf("delete subvolume %s recursively: subvolume %d: %w", path, id, err)
		}
	}
	return ids, nil
}

// writableParents clears the read-only flag of every subvolume among ids
// that holds another one: a nested subvolume's entry lives in its parent,
// which the kernel cannot change while it is read-only (EROFS), so an
// archive, read-only since it was archived, could not lose its nested
// subvolumes. A read-only subvolume holding none is deleted as it is.
func (fs *FS) writableParents(ids []uint64) error {
	var parents []uint64
	for _, id := range ids {
		kids, err := fs.children(id)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			parents = append(parents, id)
		}
	}
	if len(parents) == 0 {
		return nil
	}
	subs, err := fs.List()
	if err != nil {
		return err
	}
	for _, s := range subs {
		if slices.Contains(parents, s.ID) && s.ReadOnly {
			if err := fs.SetReadOnly(s.Path, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// tree returns the id of the subvolume at path and of all subvolumes nested
// in it, deepest level first and by id within a level.
func (fs *FS) tree(path string) ([]uint64, error) {
	root, err := fs.Info(path)
	if err != nil {
		return nil, err
	}
	var levels [][]uint64
	for level := []uint64{root.ID}; len(level) > 0; {
		levels = append(levels, level)
		var next []uint64
		for _, id := range level {
			kids, err := fs.children(id)
			if err != nil {
				return nil, err
			}
			next = append(next, kids...)
		}
		slices.Sort(next)
		level = next
	}
	slices.Reverse(levels)
	return slices.Concat(levels...), nil
}

// children returns the ids of the subvolumes directly inside subvolume id,
// from its ROOT_REF items.
func (fs *FS) children(id uint64) ([]uint64, error) {
	var ids []uint64
	err := fs.search(rootTreeID, key{id, rootRefKey, 0}, key{id, rootRefKey, math.MaxUint64},
		func(k key, _ []byte) error {
			ids = append(ids, k.Offset)
			return nil
		})
	return ids, err
}

// checkDeletable refuses ids that include the top level, the default
// subvolume or a mounted subvolume.
func (fs *FS) checkDeletable(ids []uint64) error {
	def, err := fs.DefaultSubvolume()
	if err != nil {
		return err
	}
	mounted, err := fs.MountedSubvolumes()
	if err != nil {
		return err
	}
	for _, id := range ids {
		switch {
		case id == topLevelID:
			return fmt.Errorf("%w: %d is the top level", ErrProtected, id)
		case id == def:
			return fmt.Errorf("%w: %d is the default subvolume", ErrProtected, id)
		case len(mounted[id]) > 0:
			var at []string
			for _, m := range mounted[id] {
				at = append(at, m.Mountpoint)
			}
			return fmt.Errorf("%w at %s (id %d)", ErrMounted, strings.Join(at, ", "), id)
		}
	}
	return nil
}

func (fs *FS) destroy(id uint64) error {
	args := volArgsV2{Flags: subvolSpecByID}
	ne.PutUint64(args.Name[:], id) // the union's subvolid member
	err := ioctl(fs.top, iocSnapDestroyV2, unsafe.Pointer(&args))
	if errors.Is(err, ErrNotEmpty) {
		return fmt.Errorf("it contains subvolumes: %w", err)
	}
	return err
}

// DefaultSubvolume returns the id of the default subvolume, the one mounted
// when no subvol= option is given (5 unless changed with set-default).
func (fs *FS) DefaultSubvolume() (uint64, error) {
	def := uint64(topLevelID)
	err := fs.search(rootTreeID, key{rootTreeDirID, dirItemKey, 0}, key{rootTreeDirID, dirItemKey, math.MaxUint64},
		func(_ key, data []byte) error {
			loc, name, err := decodeDirItem(data)
			if err == nil && string(name) == "default" {
				def = loc
			}
			return err
		})
	if err != nil {
		return 0, fmt.Errorf("default subvolume: %w", err)
	}
	return def, nil
}

// Commit flushes dirty data and commits the current transaction
// (BTRFS_IOC_SYNC, as `btrfs filesystem sync`), which also wakes the
// cleaner. Renames are durable only after a commit.
func (fs *FS) Commit() error {
	if err := ioctl(fs.top, iocSync, nil); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// DefaultPoll is WaitDeleted's longest interval between checks when it is
// given 0: it returns at most this long after the cleaner is done.
const DefaultPoll = 100 * time.Millisecond

// firstPoll is WaitDeleted's first interval; it doubles up to the poll given.
const firstPoll = 5 * time.Millisecond

// WaitDeleted commits, so that the cleaner starts at once, then waits until
// the deleted subvolumes ids are gone from the root tree (WaitCleaned).
func (fs *FS) WaitDeleted(ctx context.Context, ids []uint64, poll time.Duration) error {
	if err := fs.Commit(); err != nil {
		return err
	}
	return fs.WaitCleaned(ctx, ids, poll)
}

// WaitCleaned waits until the deleted subvolumes ids are gone from the root
// tree, i.e. their space is freed; their deletion must be committed (Commit:
// a commit also wakes the cleaner). It fails for an id that is not deleted.
//
// One walk of the root tree over the ids' range first finds those already
// gone and refuses an id that is not deleted (it still has its backref).
// Then each check is one tree search, on memory reused for every check, from
// the lowest id still pending: the first item it finds is that subvolume's
// root item while it waits for the cleaner, else an item of a later
// subvolume, and every pending id below it is gone, however many the
// cleaner freed meanwhile. The interval between checks doubles from 5 ms up
// to poll while nothing is freed. For n deletions that is one check per
// interval (and one more per batch of live subvolumes between them),
// instead of a search per pending id every interval; the kernel's order of
// freeing does not matter.
//
// Not BTRFS_IOC_SUBVOL_SYNC_WAIT (Linux 6.13): the kernel looks at the
// subvolume once a second while it waits, so it returns up to a second
// after the space is back.
func (fs *FS) WaitCleaned(ctx context.Context, ids []uint64, poll time.Duration) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	if len(ids) == 0 {
		return nil
	}
	pending := slices.Clone(ids)
	slices.Sort(pending)
	pending = slices.Compact(pending)
	// The walk: the ids present, and none with a backref.
	present := make([]uint64, 0, len(pending))
	err := fs.search(rootTreeID, key{pending[0], rootItemKey, 0}, key{pending[len(pending)-1], rootBackrefKey, math.MaxUint64},
		func(k key, _ []byte) error {
			if _, ok := slices.BinarySearch(pending, k.ObjectID); !ok {
				return nil // a live subvolume between them
			}
			switch k.Type {
			case rootItemKey:
				present = append(present, k.ObjectID)
			case rootBackrefKey:
				return fmt.Errorf("subvolume %d is not deleted", k.ObjectID)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("wait for deleted subvolumes: %w", err)
	}
	pending = present
	mem := newSearchMem(4 << 10) // a few root items
	wait := firstPoll
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d deleted subvolumes (the first %d): %w", len(pending), pending[0], ctx.Err())
		case <-time.After(min(wait, poll)):
		}
		n := len(pending)
		if pending, err = fs.pendingFrom(mem, pending); err != nil {
			return fmt.Errorf("wait for deleted subvolumes: %w", err)
		}
		if len(pending) == n {
			wait *= 2
		}
	}
	return nil
}

// errPresent stops pendingFrom's search at a pending subvolume still there.
var errPresent = errors.New("present")

// pendingFrom returns the tail of pending (sorted ids) from the first id
// whose root item is still in the root tree: every id below the first item
// a search from pending[0] finds is gone. Usually one search; another after
// each batch of items of live subvolumes only.
func (fs *FS) pendingFrom(mem []uint64, pending []uint64) ([]uint64, error) {
	lo, hi := key{pending[0], rootItemKey, 0}, key{pending[len(pending)-1], rootBackrefKey, math.MaxUint64}
	for len(pending) > 0 {
		last, n, err := fs.searchBatch(mem, rootTreeID, 0, lo, hi, func(k key, _ []byte) error {
			for len(pending) > 0 && pending[0] < k.ObjectID {
				pending = pending[1:] // gone
			}
			if len(pending) > 0 && pending[0] == k.ObjectID {
				if k.Type == rootBackrefKey {
					return fmt.Errorf("subvolume %d is not deleted", k.ObjectID)
				}
				return errPresent
			}
			return nil
		})
		switch {
		case errors.Is(err, errPresent):
			return pending, nil
		case err != nil:
			return pending, err
		case n == 0 || last == hi: // nothing more up to the highest: all gone
			return nil, nil
		}
		lo, _ = last.next()
	}
	return pending, nil
}
