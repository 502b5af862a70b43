#!/usr/bin/env bash
# bench-list.sh: list 5,000 read-only snapshots with `btrfs subvolume list`
# and with internal/btrfs (List), side by side, on the same loop-mounted btrfs.
#
# Usage (as root, from anywhere in the repository):
#   scripts/bench-list.sh            # N=5000 snapshots, best of RUNS=20
#   N=2000 RUNS=50 scripts/bench-list.sh
#   KEEP=1 scripts/bench-list.sh     # leave the filesystem mounted for more runs
#
# It creates its own image, loop device and mount in a temporary directory
# and removes them on exit, also on failure or Ctrl-C. Timing uses
# `date +%s%N` around each process (hyperfine is not installed); the Go
# figures come from `go test -bench BenchmarkList` against the same mount.
set -euo pipefail

N=${N:-5000}
RUNS=${RUNS:-20}
SOURCES=5 # snapshots go to @snapshots/@s0 … @s4, like the snapshot helper's layout

[ "$(id -u)" -eq 0 ] || { echo "bench-list.sh: needs root (loop device, mount)" >&2; exit 1; }
for tool in mkfs.btrfs losetup btrfs go; do
	command -v "$tool" >/dev/null || { echo "bench-list.sh: $tool not found" >&2; exit 1; }
done
repo=$(cd "$(dirname "$0")/.." && pwd)

work=$(mktemp -d /tmp/bench-list.XXXXXX)
top=$work/top
dev=
cleanup() {
	set +e
	if [ -n "${KEEP:-}" ]; then
		echo "kept: $top on $dev (umount $top; losetup -d $dev; rm -r $work)"
		return
	fi
	mountpoint -q "$top" && { umount "$top" || umount -l "$top"; }
	# Detach only our device, and only while it still holds our image.
	if [ -n "$dev" ] && [ "$(cat "/sys/block/${dev#/dev/}/loop/backing_file" 2>/dev/null)" = "$work/img" ]; then
		losetup -d "$dev"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

truncate -s 4G "$work/img"
mkfs.btrfs -q -f "$work/img" >/dev/null
for attempt in 1 2 3 4 5; do # another process may take the device we found
	dev=$(losetup --find --show "$work/img") && break
	sleep "0.$attempt"
done
[ -n "$dev" ] || { echo "bench-list.sh: losetup failed" >&2; exit 1; }
mkdir "$top"
mount -o subvolid=5 "$dev" "$top"

echo "creating $N read-only snapshots on $dev ..."
start=$(date +%s%N)
btrfs -q subvolume create "$top/@snapshots"
for s in $(seq 0 $((SOURCES - 1))); do
	btrfs -q subvolume create "$top/@s$s"
	mkdir "$top/@snapshots/@s$s"
done
# One snapshot costs a commit; parallel processes share commits.
seq 0 $((N - 1)) | xargs -P 16 -n 50 sh -c '
	for i; do
		s=$((i % '"$SOURCES"'))
		btrfs -q subvolume snapshot -r "'"$top"'/@s$s" "'"$top"'/@snapshots/@s$s/$(printf "2026%06dZ" "$i")"
	done' sh
echo "created in $((($(date +%s%N) - start) / 1000000)) ms: $(btrfs subvolume list "$top" | wc -l) subvolumes"

best=
for _ in $(seq "$RUNS"); do
	t0=$(date +%s%N)
	btrfs subvolume list "$top" >/dev/null
	t=$(($(date +%s%N) - t0))
	if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
done
echo "btrfs subvolume list (process, best of $RUNS): $best ns"

cd "$repo"
BTRFS_BENCH_MOUNT=$top go test -run '^$' -bench '^BenchmarkList$' -benchtime "${BENCHTIME:-2s}" ./internal/btrfs/
