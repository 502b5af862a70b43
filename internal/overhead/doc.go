// Package overhead is the arithmetic of the storage overhead of snapshots
// and archives, pure: which subvolume trees to walk and from which
// transaction on (Plan), and what the walked file extents add up to
// (Tally).
//
// The overhead of a configured subvolume is the bytes on disk that only its
// snapshots (<snapshots dir>/<subvolume>/*) and archives (<archive
// dir>/<subvolume>/*) hold, divided by the bytes on disk of the live
// subvolume. "Only they hold" is decided per data extent, by its logical
// address: an extent counts when some snapshot or archive of the subvolume
// references it and no other subvolume does (not the live one, not a blank,
// not any subvolume outside the snapshot and archive dirs). It is what
// deleting every snapshot and archive of the subvolume would free, and the
// number compsize gives as the disk usage of the live subvolume with its
// snapshots and archives minus that of the live subvolume alone. Like
// quota groups it counts whole extents: an extent the live subvolume still
// references in part (a file overwritten in its middle) is not counted.
// Inline extents (small files kept in the metadata) and metadata are not
// counted as overhead; they are part of the live figures, as in compsize.
//
// The compression ratio of a subvolume is its uncompressed bytes over its
// bytes on disk (2 when compression halves it), from the same walk.
//
// The walk is incremental along a snapshot lineage, which is what makes
// thousands of snapshots cheap: a snapshot's tree blocks written before
// the previous read-only snapshot of the same source was taken are blocks
// that snapshot holds too, so only the newer blocks need reading (see
// Plan).
package overhead
