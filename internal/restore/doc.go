// Package restore is impermanence-restore: recovery of a permanent
// subvolume from one of its snapshots, or of single paths.
//
// A subvolume restore (docs/restore.md has the details) keeps the current
// state as the read-only manual snapshot <snapshots>/<S>/<time>-pre-restore,
// snapshots the chosen snapshot writable to S.restore, exchanges S.restore
// and S (renameat2 RENAME_EXCHANGE: S exists at every instant), commits,
// moves the replaced subvolume to <archive dir>/<S>/<time>-replaced and
// commits again. An interrupted restore is recognised from the subvolume ids
// of S and S.restore and repaired by the next run (Recover). A mounted S is
// refused; --next-boot writes a request to <archive dir>/.restore-request.json
// that the initrd rollback (or impermanence-restore --apply-requests) performs
// before the subvolumes are mounted. The swap, its repair and the requests
// are internal/restorereq, which the rollback links without this command.
//
// --path restores single paths by reflink copy (cp --reflink=always -a) out
// of a snapshot into the live subvolume, through the top level, never
// overwriting without --force, which keeps the replaced path aside.
package restore
