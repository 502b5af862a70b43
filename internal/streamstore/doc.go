// Package streamstore is the stream target: send streams stored as files
// on any filesystem (a USB disk with ext4, a mounted network share, an
// object store's FUSE mount), optionally encrypted to age recipients so
// the storage never sees plaintext.
//
// Layout below the target's root:
//
//	<root>/<subvolume>/<snapshot name>.full.btrfs[.age]   a full send stream
//	<root>/<subvolume>/<snapshot name>.inc.btrfs[.age]    an incremental one
//	<root>/<subvolume>/manifest.json                      what is stored, with checksums
//	<root>/.incoming/<subvolume>/                         streams being written
//
// The manifest names every stored stream with its kind, its parent (the
// stream before it in the chain), the source snapshot's UUID, and the size
// and SHA-256 of the bytes stored (after encryption). A stream is written
// into .incoming, fsynced, renamed into place (RENAME_NOREPLACE) and only
// then added to the manifest, which is replaced atomically and durably; a
// deletion removes the manifest entry first and the file after. So a run
// killed at any point leaves nothing the manifest names that is partial:
// what it leaves (.incoming debris, a renamed stream the manifest does not
// name yet, a file whose entry was removed) the next run's Clean deletes.
//
// The decisions are pure (Build, Chain): which snapshot goes as a full
// stream and which as an incremental from the newest stored one, which
// stored streams the target's retention deletes (a kept snapshot keeps its
// whole chain, the newest stored snapshot is never deleted), and which
// streams a restore of a snapshot replays, in order. Store does the I/O;
// Replay verifies every stream of a chain before it applies the first,
// then decrypts and pipes each into btrfs receive.
package streamstore
