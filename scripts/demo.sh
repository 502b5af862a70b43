#!/usr/bin/env bash
# make demo: provision the built-in default layout on a loop-backed btrfs
# image, roll it back, snapshot, prune and scrape it, show the result, and
# leave nothing attached or mounted.
#
# Nothing outside the demo's work directory changes: every step runs in a
# private mount namespace, chrooted into <work>/root, which has the host's
# /usr and /etc read-only, /dev, /sys and a fresh /proc, and its own /run,
# /var, /tmp and /.snapshots. So the jobs' state (/var/lib/server-impermanence),
# the rollback's record (/run/server-impermanence/rollback.json), the audit
# log (/var/log/server-impermanence), the locks, the textfile metrics and the
# journal (there is no journal socket in there: the helpers log to stderr)
# all stay in the work directory, which the demo removes at the end.
# internal/demotest runs it and checks that.
#
# DEMO_BIN is the directory of the built binaries (default bin/); TMPDIR
# where the work directory goes (default /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."

# Stage 3, in the chroot: the demo itself (below the stages).
# Stage 2, in the private mount namespace: build the root and chroot.
if [ "${1:-}" = --namespace ]; then
	root=$2 bin=$3 src=$4
	mount --make-rprivate /
	for d in proc sys dev run var tmp root etc usr demo demo/bin demo/src; do mkdir -p "$root/$d"; done
	chmod 1777 "$root/tmp"
	for d in bin sbin lib lib32 lib64 libx32; do
		if [ -L "/$d" ]; then ln -sfn "$(readlink "/$d")" "$root/$d"
		elif [ -d "/$d" ]; then mkdir -p "$root/$d"; mount --bind "/$d" "$root/$d"; mount -o remount,bind,ro "$root/$d"
		fi
	done
	for d in usr etc; do mount --bind "/$d" "$root/$d"; mount -o remount,bind,ro "$root/$d"; done
	mount --bind "$bin" "$root/demo/bin"; mount -o remount,bind,ro "$root/demo/bin"
	mount --bind "$src" "$root/demo/src"; mount -o remount,bind,ro "$root/demo/src"
	mount --rbind /dev "$root/dev"
	mount --rbind /sys "$root/sys"
	mount -t proc proc "$root/proc"
	exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		TERM="${TERM:-dumb}" /bin/bash /demo/src/scripts/demo.sh --chroot
fi

# Stage 1, on the host: the work directory, then stage 2.
if [ "${1:-}" != --chroot ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "demo: needs root (loop devices and mounts)" >&2
		exit 1
	fi
	bin=$(realpath "${DEMO_BIN:-bin}")
	work=$(mktemp -d "${TMPDIR:-/tmp}/server-impermanence-demo.XXXXXX")
	mkdir "$work/root"
	cleanup() {
		set +e
		# The namespace's mounts went with it; a loop device left by an
		# interrupted demo still holds the image.
		for l in $(losetup -n -O NAME -j "$work/root/demo/disk.img" 2>/dev/null); do losetup -d "$l"; done
		rm -rf "$work"
	}
	trap cleanup EXIT
	echo "demo: work directory $work (the chroot of every step: <work>/root)"
	unshare --mount --propagation private "$0" --namespace "$work/root" "$bin" "$PWD"
	exit 0
fi

cd /demo/src
bin=/demo/bin
work=/demo
loop=""
cleanup() {
	set +e
	mountpoint -q "$work/top" && umount "$work/top"
	mountpoint -q /.snapshots && umount /.snapshots
	[ -n "$loop" ] && losetup -d "$loop"
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
	grep -v -E 'Command (/usr/sbin/impermanence-|/usr/lib/systemd/system-generators/server-impermanence-generator|/usr/lib/server-impermanence/grub/refresh-menu )' || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "verify: no warnings (the helpers themselves are not installed here)"

step "generator: a few of the rendered units"
for f in "$work/host/var-log.mount" "$work/host/etc-ssh.mount" \
	"$work/host/server-snapshots.timer.d/50-server-impermanence.conf" \
	"$work/host/server-impermanence-tune.service.d/50-server-impermanence.conf" \
	"$work/initrd/server-impermanence-setup.service.d/50-server-impermanence.conf"; do
	echo "--- ${f#"$work/"}"; cat "$f"
done

step "snapshots, retention and metrics"
sed "s|^device *=.*|device = \"$loop\"|" "$work/config.toml" > "$work/demo.toml"
cfg=$work/demo.toml
say() { printf "\n-- %s\n" "$*"; }
say "impermanence-snapshot: the scheduled run, then a labelled manual snapshot"
"$bin/impermanence-snapshot" --config "$cfg"
"$bin/impermanence-snapshot" --config "$cfg" --label before-upgrade --expire 30d @persist
say "impermanence-snapshot list"
"$bin/impermanence-snapshot" list --config "$cfg"
say "impermanence-prune --dry-run: every snapshot with keep/delete and the reason"
"$bin/impermanence-prune" --config "$cfg" --dry-run
say "impermanence-maintain: balance, then the scrub (--scrub-only), as their units run them"
"$bin/impermanence-maintain" --config "$cfg" --skip-scrub
"$bin/impermanence-maintain" --config "$cfg" --scrub-only
say "impermanence-exporter on loopback, with /.snapshots and no top level mounted, as on a server: a few of its metrics"
mkdir -p /.snapshots
mount -o subvol=@snapshots,ro "$loop" /.snapshots
port=19857
"$bin/impermanence-exporter" --config "$cfg" --listen 127.0.0.1:$port --no-systemd 2>/dev/null &
pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:$port/metrics 2>/dev/null && break; sleep 0.1; done
curl -fsS http://127.0.0.1:$port/metrics > "$work/metrics.txt"
kill "$pid"; wait "$pid" || true
grep -E "^impermanence_(snapshots|archives|archive_inventory_timestamp_seconds|config_valid|filesystem_size_bytes|job_last_result\{.*\} 1|collector_success|scrub_pass_progress_ratio)" "$work/metrics.txt"
say "impermanence-status: is this server healthy? (from the same sources; the demo has no systemd)"
rc=0; "$bin/impermanence-status" --config "$cfg" --no-systemd || rc=$?
echo "impermanence-status: exit status $rc"
umount /.snapshots
say "the textfile for node_exporter, as the job units' ExecStopPost= writes it"
"$bin/impermanence-exporter" --config "$cfg" --textfile
head -c 600 /var/lib/prometheus/node-exporter/server_impermanence.prom; echo " ..."
say "the demo's own state, run and log directories (in the work directory, never the host's)"
(cd / && find run/server-impermanence var/lib/server-impermanence var/log/server-impermanence -type f 2>/dev/null | sort)

step "clean up: nothing left mounted or attached"
losetup -d "$loop"; loop=""
losetup -a | grep -F "$work/disk.img" || echo "no loop device of the demo remains"
