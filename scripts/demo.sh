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

step "one boot's worth of state: a file in the ephemeral root, one in /persist"
mkdir "$work/top"
mount -o subvolid=5 "$loop" "$work/top"
echo "written during the last boot" > "$work/top/@root/scratch.txt"
mkdir -p "$work/top/@persist/etc/ssh"
echo "host key (persisted)" > "$work/top/@persist/etc/ssh/ssh_host_ed25519_key"
umount "$work/top"

step "rollback, as server-impermanence-setup.service runs it in the initrd (dry run, then for real)"
"$bin/impermanence-rollback" --default --device "$loop" --dry-run
"$bin/impermanence-rollback" --default --device "$loop"

step "after the rollback: the root is pristine, the old root is archived, /persist is intact"
mount -o subvolid=5,ro "$loop" "$work/top"
ls "$work/top/@root/scratch.txt" 2>/dev/null && { echo "demo: the root was not reset" >&2; exit 1; } || echo "@root/scratch.txt: gone"
for a in "$work/top"/old_roots/@root/*; do
	printf 'archived: %s -> %s' "${a#$work/top/}" "$(cat "$a/scratch.txt")"; echo
done
printf '@persist/etc/ssh/ssh_host_ed25519_key: %s\n' "$(cat "$work/top/@persist/etc/ssh/ssh_host_ed25519_key")"
umount "$work/top"

step "inspect with btrfs-progs"
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


step "generator: check the built-in default configuration"
"$bin/server-impermanence-generator" --print-default > "$work/config.toml"
"$bin/server-impermanence-generator" --check --config "$work/config.toml"

step "generator: render the units a boot would generate (host, then initrd)"
"$bin/server-impermanence-generator" --render "$work/host" --config "$work/config.toml"
"$bin/server-impermanence-generator" --render "$work/initrd" --initrd --config "$work/config.toml"
(cd "$work/host" && find . -type l -printf '%p -> %l\n' -o -type f -print | sort)
echo "-- initrd:"
(cd "$work/initrd" && find . -type l -printf '%p -> %l\n' -o -type f -print | sort)

step "generator: systemd-analyze verify on every rendered and static unit"
mkdir "$work/verify"
cp units/*.service units/*.timer "$work/verify/"
cp -a "$work/host/." "$work/verify/"
out=$(cd "$work/verify" && SYSTEMD_UNIT_PATH="$work/verify:" systemd-analyze verify --man=no \
	$(find . -maxdepth 1 -type f \( -name '*.mount' -o -name '*.timer' -o -name '*.service' \) ! -name '*@.service' ! -name '*:*' | sort) 2>&1 |
	grep -v -E 'Command (/usr/sbin/impermanence-|/usr/lib/systemd/system-generators/server-impermanence-generator)' || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "verify: no warnings (the helpers themselves are not installed here)"

step "generator: a few of the rendered units"
for f in "$work/host/var-log.mount" "$work/host/etc-ssh.mount" \
	"$work/host/server-snapshots.timer.d/50-server-impermanence.conf" \
	"$work/host/server-impermanence-tune.service.d/50-server-impermanence.conf" \
	"$work/initrd/server-impermanence-setup.service.d/50-server-impermanence.conf"; do
	echo "--- ${f#"$work/"}"; cat "$f"
done

step "snapshots, retention and metrics, in a private mount namespace (state, logs and /run are tmpfs there)"
# The jobs write their state, audit log and textfile metrics to the standard
# host paths; the namespace keeps all of that, and the /.snapshots mount, away
# from this machine.
sed "s|^device *=.*|device = \"$loop\"|" "$work/config.toml" > "$work/demo.toml"
made_snapdir=""
[ -e /.snapshots ] || { mkdir /.snapshots; made_snapdir=1; }
unshare --mount --propagation private bash -euo pipefail -c '
	bin=$1; cfg=$2; loop=$3
	for d in /var/lib /var/log /run; do mount -t tmpfs -o mode=0755 demo "$d"; done
	say() { printf "\n-- %s\n" "$*"; }
	say "impermanence-snapshot: the scheduled run, then a labelled manual snapshot"
	"$bin/impermanence-snapshot" --config "$cfg"
	"$bin/impermanence-snapshot" --config "$cfg" --label before-upgrade --expire 30d @persist
	say "impermanence-snapshot list"
	"$bin/impermanence-snapshot" list --config "$cfg"
	say "impermanence-prune --dry-run: every snapshot with keep/delete and the reason"
	"$bin/impermanence-prune" --config "$cfg" --dry-run
	say "impermanence-exporter on loopback: a few of its metrics"
	mount -o subvol=@snapshots,ro "$loop" /.snapshots
	"$bin/impermanence-exporter" --config "$cfg" --listen 127.0.0.1:19857 --no-systemd 2>/dev/null &
	pid=$!
	for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:19857/metrics 2>/dev/null && break; sleep 0.1; done
	curl -fsS http://127.0.0.1:19857/metrics | grep -E "^impermanence_(snapshots|config_valid|filesystem_size_bytes|job_last_result|collector_success)" | head -25
	kill "$pid"; wait "$pid" || true
	say "textfile written by the jobs for node_exporter"
	head -c 600 /var/lib/prometheus/node-exporter/server_impermanence.prom; echo " ..."
' demo "$bin" "$work/demo.toml" "$loop"
[ -n "$made_snapdir" ] && rmdir /.snapshots

step "clean up: nothing left mounted or attached"
losetup -d "$loop"; loop=""
losetup -a | grep -F "$work" || echo "no loop device of the demo remains"
