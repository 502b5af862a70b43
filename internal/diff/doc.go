// Package diff is impermanence-diff: what the next boot will erase. For each
// ephemeral subvolume (or the ones named) it lists the files, directories,
// symbolic links and nested subvolumes of the live subvolume that differ
// from its blank (added, changed, removed, with sizes) and are not covered by
// a persisted path, another subvolume's mountpoint, /proc, /sys, /run, /tmp
// or a mount below the subvolume's mountpoint. It also lists orphans: paths
// on the persist subvolume that no persisted path of the configuration
// covers any more (they are kept, but nothing binds them into the root).
//
// It does not walk the tree. One of the two is a snapshot of the other (see
// NewSource): the live subvolume of its blank, as every boot makes it, or the
// blank of the live subvolume, captured from it before the first boot or
// after an upgrade. Either way the two share inode numbers and every tree
// block the live system has not written since the snapshot, and what the
// next boot erases is what the live subvolume changed after it;
// btrfs.Changed (TREE_SEARCH with min_transid = the snapshot's otransid + 1,
// as `btrfs subvolume find-new` does) returns only the inodes written since,
// and only the directories among them are compared entry by entry with the
// blank to find removals. The cost is proportional to what changed, not to
// the size of the root. An inode whose only change is its atime (relatime)
// is recognised by its unchanged ctime and left out.
//
// diff changes nothing on the filesystem except that it commits the current
// transaction first (so that delayed inode updates are in the tree), and it
// takes no lock.
package diff
