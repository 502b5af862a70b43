#!/usr/bin/env bash
# make bench: run server-impermanence-generator on the built-in default
# configuration side by side with systemd-fstab-generator on an fstab with
# the same number of mount units, N times each, interleaved, in one run;
# print the mean per run and the ratio (target: <= 1.0).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
gen=$PWD/bin/server-impermanence-generator
fstabgen=/usr/lib/systemd/system-generators/systemd-fstab-generator
[ -x "$gen" ] || { echo "bench: build first (make build)" >&2; exit 1; }
[ -x "$fstabgen" ] || { echo "bench: $fstabgen not installed" >&2; exit 1; }
if [ "${1:-}" != --inner ]; then
	# The generator reads /etc/server-impermanence: give it the default
	# configuration in a private mount namespace, touching nothing outside.
	exec unshare -m --propagation private "$0" --inner
fi
work=$(mktemp -d /tmp/bench-generator.XXXXXX)
# Generators write to /run/systemd/generator*, a tmpfs: so do both here (the
# namespace is private, the tmpfs goes with it).
mkdir "$work/out"
mount -t tmpfs bench-generator "$work/out"
trap 'umount "$work/out"; rm -rf "$work"' EXIT
mkdir -p "$work/etc"
"$gen" --print-default > "$work/etc/config.toml"
made_etc=""
[ -e /etc/server-impermanence ] || { mkdir /etc/server-impermanence; made_etc=1; }
mount --bind "$work/etc" /etc/server-impermanence
# Count the mount units one boot of the generator writes.
mkdir "$work/probe"
"$gen" "$work/probe" "$work/probe" "$work/probe" 2>/dev/null || true
mounts=$(find "$work/probe" -maxdepth 1 -name '*.mount' | wc -l)
# An fstab with as many btrfs subvolume and bind entries.
{
	for i in $(seq 1 "$mounts"); do
		echo "LABEL=server /srv/m$i btrfs subvol=@m$i,compress=zstd:1,discard=async,commit=30,noatime 0 0"
	done
} > "$work/fstab"
run() { # dir-prefix cmd...
	local t0 t1 i
	t0=$(date +%s%N)
	for i in $(seq 1 "$N"); do
		d="$work/out/o$1$i"; mkdir -p "$d/n" "$d/e" "$d/l"
		"${@:2}" "$d/n" "$d/e" "$d/l" 2>/dev/null
		rm -rf "$d"
	done
	t1=$(date +%s%N)
	echo $(( (t1 - t0) / N ))
}
# Interleave to share the machine's noise: 4 rounds each.
g=0; f=0
for r in 1 2 3 4; do
	g=$((g + $(run g "$gen")))
	f=$((f + $(SYSTEMD_FSTAB="$work/fstab" run f "$fstabgen")))
done
g=$((g / 4)); f=$((f / 4))
umount /etc/server-impermanence
[ -n "$made_etc" ] && rmdir /etc/server-impermanence # the mountpoint this script made
printf 'mount units per run:            %d\n' "$mounts"
printf 'server-impermanence-generator:  %d.%03d ms per run (incl. mkdir/rm of the output dirs)\n' $((g / 1000000)) $((g / 1000 % 1000))
printf 'systemd-fstab-generator:        %d.%03d ms per run\n' $((f / 1000000)) $((f / 1000 % 1000))
awk -v g="$g" -v f="$f" 'BEGIN { printf "ratio generator/fstab-generator: %.2fx (target <= 1.0x)\n", g / f }'
