#!/bin/bash
# The common shell recipe for a btrfs impermanence rollback (NixOS wiki /
# "erase your darlings" style), used as the reference in `make bench`:
# mount the top level, mv the root to old_roots/<mtime>, recursively delete
# old roots older than 30 days, snapshot the blank to the root.
# Usage: rollback-recipe.sh DEVICE ROOT BLANK
set -euo pipefail
dev=$1 root=${2:-@root} blank=${3:-@root-blank}
top=$(mktemp -d)
mount -o subvolid=5 "$dev" "$top"
if [[ -e "$top/$root" ]]; then
	mkdir -p "$top/old_roots/$root"
	timestamp=$(date --date="@$(stat -c %Y "$top/$root")" "+%Y-%m-%-d_%H:%M:%S")
	mv "$top/$root" "$top/old_roots/$root/$timestamp"
fi
delete_subvolume_recursively() {
	local IFS=$'\n' i
	for i in $(btrfs subvolume list -o "$1" | cut -f 9- -d ' '); do
		delete_subvolume_recursively "$top/$i"
	done
	btrfs subvolume delete "$1" >/dev/null
}
for i in $(find "$top/old_roots/$root/" -mindepth 1 -maxdepth 1 -mtime +30); do
	delete_subvolume_recursively "$i"
done
btrfs subvolume snapshot "$top/$blank" "$top/$root" >/dev/null
umount "$top"
rmdir "$top"
