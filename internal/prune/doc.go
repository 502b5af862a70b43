// Package prune is impermanence-prune (server-snapshots-cleanup.service):
// it applies the snapshot retention (internal/retention) to every
// subvolume's snapshots and the [archive] policy (keep_days, keep_min;
// internal/retention.SelectArchives, the same function the initrd rollback
// uses) to the archived previous states in the archive dir, then deletes
// what both select in one process through ioctls, continuing past a failed
// deletion, and commits once at the end.
//
// Plan is pure: from the snapshots and archives found, the configuration,
// the time zone and now, it returns every subvolume with keep or delete and
// the reason. --dry-run prints it; Apply carries it out.
//
// Snapshots with a name impermanence-snapshot did not make, and writable
// ones, are never deleted: they are reported. Archives are deleted deepest
// nested subvolume first and never while anything in them is mounted.
//
// Space budget ([snapshots.retention].space_budget, off by default): after
// the retention, the oldest kept timeline snapshots beyond keep_min go too
// until the storage overhead (internal/overhead, measured through
// internal/overhead/fsoverhead) meets it; the plan carries the reason.
//
// Space guard (no qgroups): free and unallocated space before and after are
// reported and recorded; under --min-free the run warns (journal SpaceLow,
// state counter space_low) without failing.
//
// Audit log: one event per failed deletion, per deleted archive, and one per
// subvolume for its deleted snapshots (the journal has one entry per
// snapshot); an fsync per snapshot would make a 5,000-snapshot prune take
// seconds.
package prune
