#!/usr/bin/env bash
# bench-snapshot-tools.sh: one snapshot of 7 subvolumes, whole commands side
# by side on the same loop-mounted btrfs:
#   impermanence-snapshot (one process, lock + state + audit + textfile)
#   7x `btrfs subvolume snapshot -r`
#   btrbk snapshot (one process, 7 subvolumes)
#   7x `snapper --no-dbus -c <config> create`
# and a prune of SNAPS hourly-named snapshots of one subvolume with
# impermanence-prune vs btrbk (snapper's timeline cleanup is left out: it took
# 331 s for 5,000 in the reference measurements).
#
# Usage (root): scripts/bench-snapshot-tools.sh   [RUNS=20 SNAPS=1000]
# Everything runs in a private mount namespace: /run, /var/lib, /var/log,
# /etc/snapper and /etc/default/snapper are private copies there, so neither
# the jobs' state nor snapper's configuration touch this machine. The image,
# its loop device and mount are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
SNAPS=${SNAPS:-1000}
[ "$(id -u)" -eq 0 ] || { echo "bench-snapshot-tools: needs root" >&2; exit 1; }
for t in snapper btrbk; do
	command -v "$t" >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq snapper btrbk >/dev/null; break; }
done
make --no-print-directory build >/dev/null
if [ "${1:-}" != --inner ]; then
	exec unshare --mount --propagation private "$0" --inner
fi

bin=$PWD/bin
work=$(mktemp -d /tmp/bench-snapshot-tools.XXXXXX)
dev=""
cleanup() {
	set +e
	mountpoint -q "$work/top" && umount "$work/top"
	[ -n "$dev" ] && losetup -d "$dev"
	rm -rf "$work"
}
trap cleanup EXIT
for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 bench "$d"; done
mkdir -p "$work/etc-snapper"
cp -a /etc/snapper/. "$work/etc-snapper/"
mount --bind "$work/etc-snapper" /etc/snapper
cp /etc/default/snapper "$work/default-snapper"
mount --bind "$work/default-snapper" /etc/default/snapper

truncate -s 4G "$work/img"
mkfs.btrfs -q -f "$work/img"
dev=$(losetup --find --show "$work/img")
mkdir "$work/top"
mount -o subvolid=5 "$dev" "$work/top"
top=$work/top
svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix @var-backup @var-lib-containers)
for s in "${svs[@]}"; do
	btrfs -q subvolume create "$top/$s"
	head -c 1M /dev/urandom > "$top/$s/data"
done
"$bin/server-impermanence-generator" --print-default |
	sed -e "s|^device *=.*|device = \"$dev\"|" > "$work/config.toml"
mkdir "$work/config.d" # the default snapshots 4 subvolumes; a drop-in makes it 7
for s in @nix @var-backup @var-lib-containers; do
	printf '[[subvolume]]\nname = "%s"\nsnapshot = true\n\n' "$s" >> "$work/config.d/10-seven.toml"
done
"$bin/impermanence-provision" --config "$work/config.toml" --mount "$top" >/dev/null ||
	[ $? -eq 3 ] # mismatches: the subvolumes made above have no compression property
mkdir -m 0700 "$top/cli" "$top/btrbk"
cat > "$work/btrbk.conf" <<EOF
timestamp_format long-iso
snapshot_preserve_min all
volume $top
  snapshot_dir btrbk
$(for s in "${svs[@]}"; do echo "  subvolume $s"; done)
EOF
i=0
for s in "${svs[@]}"; do
	i=$((i + 1))
	snapper --no-dbus -c "b$i" create-config "$top/$s"
done

ms() { echo "scale=2; $1 / 1000000" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_runs() { # name cmd...
	local name=$1 t0 t1 r
	shift
	for r in $(seq "$RUNS"); do
		t0=$(date +%s%N)
		"$@" "$r" >/dev/null 2>&1 || { echo "bench: $name failed" >&2; return 1; }
		t1=$(date +%s%N)
		echo $((t1 - t0))
	done | median | { read -r m; printf '%-34s %8s ms (median of %d)\n' "$name" "$(ms "$m")" "$RUNS"; }
}
ours() { "$bin/impermanence-snapshot" --config "$work/config.toml" --mount "$top" --label "r$1"; }
cli() { for s in "${svs[@]}"; do btrfs subvolume snapshot -r "$top/$s" "$top/cli/$s-$1"; done; }
btrbk_run() { btrbk -c "$work/btrbk.conf" snapshot; }
snapper_run() { local i; for i in $(seq 1 7); do snapper --no-dbus -c "b$i" create; done; }

echo "== one snapshot of 7 subvolumes (whole commands, same filesystem, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
time_runs "impermanence-snapshot" ours
time_runs "7x btrfs subvolume snapshot -r" cli
time_runs "btrbk snapshot" btrbk_run
time_runs "7x snapper create" snapper_run

echo "== prune of $SNAPS hourly snapshots of one subvolume"
mkdir -p "$top/@snapshots/@persist" "$top/btrbk-prune"
base=$(date -u -d '-'"$SNAPS"' hours' +%s)
for n in $(seq 0 $((SNAPS - 1))); do
	t=$((base + n * 3600))
	btrfs subvolume snapshot -r "$top/@persist" "$top/@snapshots/@persist/$(date -u -d "@$t" +%Y%m%dT%H%M%SZ)" >/dev/null
	btrfs subvolume snapshot -r "$top/@persist" "$top/btrbk-prune/@persist.$(date -u -d "@$t" +%Y%m%dT%H%M%S%z)" >/dev/null
done
cat > "$work/btrbk-prune.conf" <<EOF
timestamp_format long-iso
snapshot_preserve_min latest
snapshot_preserve 24h 7d 4w 12m
volume $top
  snapshot_dir btrbk-prune
  subvolume @persist
    snapshot_create no
EOF
t0=$(date +%s%N); "$bin/impermanence-prune" --config "$work/config.toml" --mount "$top" >/dev/null 2>&1 || true; t1=$(date +%s%N)
left=$(find "$top/@snapshots/@persist" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
printf '%-34s %8s ms, %d kept\n' "impermanence-prune" "$(ms $((t1 - t0)))" "$left"
t0=$(date +%s%N); btrbk -c "$work/btrbk-prune.conf" prune >/dev/null 2>&1 || true; t1=$(date +%s%N)
left=$(find "$top/btrbk-prune" -mindepth 1 -maxdepth 1 | wc -l)
printf '%-34s %8s ms, %d kept\n' "btrbk prune" "$(ms $((t1 - t0)))" "$left"
