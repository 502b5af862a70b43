// Package rollback is impermanence-rollback, run in the initrd by
// server-impermanence-setup.service before the root is mounted: it resets
// every ephemeral subvolume from its blank and keeps the previous state in
// the archive, from which a file the reset took can be recovered.
//
// For each ephemeral subvolume S: snapshot the blank into S.new (or create it
// empty), set NoCoW/compression, exchange S.new and S with one
// renameat2(RENAME_EXCHANGE) — so a bootable S exists at every instant —,
// then move the old state (now S.new) to <archive dir>/S/<YYYYMMDDTHHMMSSZ>-<8
// hex of the boot id> with RENAME_NOREPLACE (suffix -2, -3, … when taken), or
// delete it, deepest nested subvolume first, when archive = false; commit.
// Then prune archives older than keep_days by the time in their name (never
// below keep_min, never anything mounted) and commit again, which also starts
// the cleaner so the space comes back at once.
//
// The package is split into pure decisions and the I/O around them:
// Observe reads the filesystem, Check refuses unsafe situations, Build plans
// the steps (including the repair of any state an interrupted run left) and
// Select decides retention; Apply carries a plan out; Run is the program.
//
// Crash safety. Renames are durable only at the next commit, and snapshots
// commit; so after a power cut at any point the disk holds a state between two
// steps. Build recognises each: S and S.new both present means either a
// fresh S.new not yet swapped in (it was created after S: higher subvolume
// id; it is unused and is deleted) or an old state swapped out but not yet
// archived (lower id than S; it is archived or deleted as configured); S
// missing with S.new present is renamed back to S. A normal reset then
// follows, so every boot starts from the blank and no state is ever lost.
package rollback
