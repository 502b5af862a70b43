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
//
// The one change to what exists is OpReplace (--replace-blank): the root's
// blank is replaced by a new capture built read-only under the temporary
// name, exchanged with the old blank (RENAME_EXCHANGE) and the old one then
// deleted, so a valid blank exists at every instant. Run takes the
// per-filesystem job lock before it observes, so it never works at the same
// time as the rollback, snapshot or prune.
package provision
