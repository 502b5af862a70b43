// Package provision creates on a btrfs filesystem everything a configuration
// describes and that is missing: subvolumes (NoCoW and compression set while
// they are empty), each ephemeral subvolume's read-only blank, the snapshots
// subvolume (root:root 0700) and the archive directory.
//
// It is idempotent and conservative: what exists is never changed, only
// reported when it differs from the configuration (a Mismatch; only a
// warning for a compression property that the rollback or impermanence-tune
// sets at the next boot). Planning is a pure function (Plan) over what was
// observed on the filesystem; Apply carries a plan out through the small
// Ops interface. Every new subvolume is built under a temporary name and
// renamed into place (RENAME_NOREPLACE) only when complete, so an
// interrupted run leaves nothing half-made under a configured name; the
// next run removes the leftover and starts over.
package provision
