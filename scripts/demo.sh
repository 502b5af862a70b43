#!/usr/bin/env bash
# make demo: provision the built-in default layout on a loop-backed btrfs
# image, show the result, and leave nothing attached or mounted.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (loop devices and mounts)" >&2
	exit 1
fi
bin=$PWD/bin
work=$(mktemp -d /tmp/server-impermanence-demo.XXXXXX)
loop=""
cleanup() {
	set +e
	mountpoint -q "$work/top" && umount "$work/top"
	[ -n "$loop" ] && losetup -d "$loop"
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "create a 2 GiB sparse image and a btrfs filesystem on it"
truncate -s 2G "$work/disk.img"
mkfs.btrfs -q -f -L server "$work/disk.img"
loop=$(losetup --find --show "$work/disk.img")
echo "image $work/disk.img attached as $loop"

step "dry run: what impermanence-provision would create (built-in default layout)"
"$bin/impermanence-provision" --default --device "$loop" --dry-run

step "provision"
"$bin/impermanence-provision" --default --device "$loop"

step "second run: idempotent, nothing to do"
"$bin/impermanence-provision" --default --device "$loop"

step "inspect with btrfs-progs"
mkdir "$work/top"
mount -o subvolid=5,ro "$loop" "$work/top"
btrfs subvolume list -t "$work/top"
echo
for s in @root-blank @snapshots; do
	printf '%-22s ro=%s\n' "$s" "$(btrfs property get -ts "$work/top/$s" ro | cut -d= -f2)"
done
for s in @var-tmp @var-lib-containers @nix; do
	c=$(btrfs property get "$work/top/$s" compression 2>/dev/null || true)
	printf '%-22s attrs=%s %s\n' "$s" "$(lsattr -d "$work/top/$s" | cut -d' ' -f1)" "${c:-compression=(no property)}"
done
stat -c '%-22n %U:%G %a' "$work/top/@snapshots" "$work/top/old_roots" | sed "s|$work/top/||"
umount "$work/top"

step "clean up: nothing left mounted or attached"
losetup -d "$loop"; loop=""
losetup -a | grep -F "$work" || echo "no loop device of the demo remains"
