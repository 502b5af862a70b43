// Package snapshot is impermanence-snapshot (server-snapshots.service, also
// run by hand): read-only snapshots of every subvolume with snapshot = true
// into <snapshots dir>/<subvolume>/<YYYYMMDDTHHMMSSZ>, one timestamp per run,
// in one process; "--label NAME" makes a manual snapshot
// ("<time>-<label>") that timeline retention never deletes, and
// "--expire DURATION" records in a sidecar ".<name>.json" next to it when
// it may be deleted. "list" prints every snapshot with its age, kind, label
// and read-only flag.
//
// A subvolume that fails does not stop the others; the run then fails. A
// full filesystem (ENOSPC) or a missing source gives a clear message, a
// journal entry (MESSAGE_ID SnapshotFailed), an audit event and a failed-job
// record, and leaves no partial snapshot or sidecar behind.
//
// List and the naming functions are used by impermanence-prune too.
package snapshot
