// Package send is impermanence-send: for each [[target]] it sends the
// snapshots the target lacks, incrementally where both sides hold a
// common snapshot (internal/replicate plans it), runs the target's
// retention, and records what the target holds (internal/targetstate).
//
// A local target is a directory on another mounted btrfs. The stream
// comes from the send ioctl (compressed extents as they are on disk where
// the kernel writes stream version 2) and goes through `btrfs receive`
// into <root>/.incoming/<subvolume>/; only a received subvolume that is
// read-only and carries the source's UUID as its received UUID is renamed
// into <root>/<subvolume>/<name> (RENAME_NOREPLACE). A killed transfer
// leaves only .incoming debris, which the next run deletes first.
//
// The run takes no filesystem job lock (a transfer may take hours; the
// snapshots and the cleanup keep their schedule): the kernel refuses to
// delete a snapshot while it is being sent, and impermanence-prune keeps
// the parent each target's record names. A per-target lock keeps two runs
// of one target apart.
package send
