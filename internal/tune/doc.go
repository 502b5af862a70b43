// Package tune is impermanence-tune (server-impermanence-tune.service, at
// every boot): it sets each configured subvolume's compression property
// (`compression`) or NoCoW attribute (`cow = false`) on the subvolume's root
// at its mountpoint, where they differ from the configuration. It does in
// one process, without btrfs-progs or e2fsprogs, what one
// `btrfs property set MOUNTPOINT compression ALGO` or `chattr +C MOUNTPOINT`
// per subvolume did before.
//
// The decisions are pure (Wants, CheckMount, Decide); Tune does the I/O
// through the small Dir interface, which btrfs.Dir implements. A subvolume
// is touched only when its configured mountpoint holds a btrfs mount of
// that very subvolume: the directory is opened first and its mount id
// (statx) looked up in the mount table, so a directory that is not the
// subvolume's mount (nothing mounted, another subvolume, a bind mount of a
// directory) is never changed; it is skipped with a warning. Values are read
// first and written only when they differ, so a second run changes nothing.
// A failure on one subvolume does not stop the others.
package tune
