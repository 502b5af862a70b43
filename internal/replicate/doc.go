// Package replicate decides what one replication run does to one
// subvolume of one target: a pure function from the source's read-only
// snapshots (with their subvolume UUIDs), what the target holds (with the
// received UUIDs btrfs receive gave them), the target's retention policy
// and the time now, to a plan.
//
// A source snapshot and a target snapshot are the same snapshot only when
// the target's received UUID is the source's UUID: a name alone proves
// nothing (a subvolume re-created, a snapshot restored, another server's
// backup under the same root). The plan
//
//   - sends the source snapshots the target lacks and its retention would
//     keep, oldest first, each incrementally from the nearest older
//     snapshot both sides hold by then (else the nearest newer one), and
//     in full only when there is none, saying so;
//   - never overwrites: a target snapshot with the name of a source
//     snapshot but another received UUID is left alone and reported;
//   - runs the target's retention over what the target holds after the
//     sends, never deleting the newest snapshot both sides hold (Parent,
//     the next run's incremental parent, which the source keeps too), nor
//     anything the suite did not make (no snapshot name, no received UUID).
package replicate
