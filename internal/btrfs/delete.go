package btrfs

import (
	"cmp"
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
// the deleted subvolumes ids are gone from the root tree, i.e. their space
// is freed. It fails for an id that is not deleted.
//
// The cleaner frees deleted subvolumes one at a time, in the order they were
// deleted (ids in that order cost the fewest checks; any order is correct).
// So after one check of every id, each check looks up the first id still
// pending alone (a tree search for its root item, on memory reused for every
// check), and the next ones only once it is gone; the interval between
// checks doubles from 5 ms up to poll while nothing is freed. For n
// deletions that is at most 2n searches plus one per interval, instead of
// a full search per pending id every interval.
//
// Not BTRFS_IOC_SUBVOL_SYNC_WAIT (Linux 6.13): the kernel looks at the
// subvolume once a second while it waits, so it returns up to a second
// after the space is back.
func (fs *FS) WaitDeleted(ctx context.Context, ids []uint64, poll time.Duration) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	if err := fs.Commit(); err != nil {
		return err
	}
	mem := newSearchMem(4 << 10) // a root item and its backref
	pending := slices.Clone(ids)
	var err error
	pending = slices.DeleteFunc(pending, func(id uint64) bool {
		gone, e := fs.cleaned(mem, id)
		err = cmp.Or(err, e)
		return gone
	})
	wait := firstPoll
	for err == nil && len(pending) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %d deleted subvolumes (the first %d): %w", len(pending), pending[0], ctx.Err())
		case <-time.After(min(wait, poll)):
		}
		n := len(pending)
		for len(pending) > 0 {
			gone, e := fs.cleaned(mem, pending[0])
			if err = e; err != nil || !gone {
				break
			}
			pending = pending[1:]
		}
		if len(pending) == n {
			wait *= 2
		}
	}
	if err != nil {
		return fmt.Errorf("wait for deleted subvolumes: %w", err)
	}
	return nil
}

// cleaned reports whether subvolume id no longer has a ROOT_ITEM, in one
// tree search on mem (its root item and its backref, at most a few hundred
// bytes, fit in one batch). A ROOT_BACKREF means the subvolume still exists.
func (fs *FS) cleaned(mem []uint64, id uint64) (bool, error) {
	gone := true
	_, _, err := fs.searchBatch(mem, rootTreeID, 0, key{id, rootItemKey, 0}, key{id, rootBackrefKey, math.MaxUint64},
		func(k key, _ []byte) error {
			gone = false
			if k.Type == rootBackrefKey {
				return fmt.Errorf("subvolume %d is not deleted", id)
			}
			return nil
		})
	return gone, err
}
