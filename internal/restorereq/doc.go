// Package restorereq is the part of a subvolume restore that both
// impermanence-restore and the initrd rollback perform: the swap of a
// permanent subvolume S with a snapshot of it (Swap, PlanSwap, Swap.Apply),
// the repair of an interrupted one (Recover), and the restores staged for
// the next boot (<archive dir>/.restore-request.json: ReadRequests,
// WriteRequests, ApplyRequests).
//
// A swap keeps the current state as the read-only manual snapshot
// <snapshots>/<S>/<time>-pre-restore, snapshots the chosen snapshot writable
// to S.restore, exchanges S.restore and S (renameat2 RENAME_EXCHANGE: S
// exists at every instant), commits, moves the replaced subvolume to
// <archive dir>/<S>/<time>-replaced and commits again (docs/restore.md).
//
// It is btrfs-level code without a command: it imports no job package, so
// the initrd helper links it (boot path: the standard library,
// golang.org/x/sys and internal/ packages below the jobs).
package restorereq
