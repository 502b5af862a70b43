// Package btrfs performs every btrfs operation the project needs on an open
// top-level (subvolid=5) mount: subvolumes and snapshots, deletion by id
// (recursive, refusing anything mounted), listing with creation time and
// flags, atomic renames, per-subvolume compression and NoCoW, commits, device
// error counters and space usage.
//
// Paths given to methods are relative to the top level, like "@root" or
// "old_roots/@root/20261125T204023Z-1a2b3c4d". Absolute paths, ".." and
// symbolic links are refused; every path is resolved beneath the top-level
// mount (openat2 RESOLVE_BENEATH), so an operation can never leave it. The
// one exception is Dir: a directory opened by its absolute path, for the
// compression property and NoCoW attribute that impermanence-tune
// re-applies at each subvolume's mountpoint once the caller has checked, by
// the directory's mount id, that the configured subvolume is mounted there.
//
// It uses github.com/dennwc/btrfs where that package is correct (filesystem
// and device info, device error counters) and its own ioctls where it is not:
// deletion by id, snapshots that never nest into an existing directory, and a
// listing built from one TREE_SEARCH_V2 walk of the root tree, which is faster
// than `btrfs subvolume list`.
//
// The mount table is read by internal/mountinfo; this package only groups
// it by subvolume. The pure parts (that grouping, sysfs parsing, path checks,
// ioctl argument layouts) are tested without root; everything that reaches
// the kernel is tested on a real loop-mounted btrfs through
// internal/btrfstest.
package btrfs
