#!/usr/bin/env bash
# vmtest image builder: vmtest/build-image.sh [SUITE...] (default: $VMTEST_SUITES,
# else "bookworm trixie"). Writes, for each Debian suite, to $VMTEST_CACHE/image-SUITE/:
#   disk.img            btrfs (label "server") provisioned by impermanence-provision
#                       with the built-in default layout, @root-blank captured with
#                       --blank-from, the project installed from its Debian package
#   vmlinuz, initrd.img a dracut systemd initrd with the project's dracut module
#   initrd-invalid.img  the same with an invalid config.d drop-in (scenario 4)
#   disk-plain.img      a plain Debian system in @rootfs with its dracut
#                       initrd in /boot, the project not installed (scenario 9)
#   server-impermanence.deb  the package installed in disk.img
# The Debian root filesystem (mmdebstrap) is cached per suite as
# rootfs-<hash>.tar.zst, keyed by the suite, the package list, the recipe and
# the mirror: a warm build takes seconds. The package is built once for all.
# Needs root (loop device, mounts, chroot). Leaves no loop device or mount behind.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cache=${VMTEST_CACHE:-/var/cache/server-impermanence-vmtest}
mirror=${VMTEST_MIRROR:-http://deb.debian.org/debian}
security=${VMTEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
suites=${*:-${VMTEST_SUITES:-bookworm trixie}}
size=${VMTEST_IMG_SIZE:-3G}
packages="systemd systemd-sysv udev dbus btrfs-progs dracut linux-image-cloud-amd64 kmod util-linux mount e2fsprogs procps apt"
modules="systemd systemd-initrd dracut-systemd base fs-lib rootfs-block udev-rules kernel-modules btrfs server-impermanence"
drivers="virtio_blk virtio_pci btrfs"

[ "$(id -u)" -eq 0 ] || { echo "vmtest: build-image.sh needs root" >&2; exit 1; }
mkdir -p "$cache"
log() { printf 'vmtest-build: %s\n' "$*" >&2; }
t0=$(date +%s.%N)

# identity ROOT: the guest side of the harness (runner and its unit), a host
# name, a stand-in ssh host key, a committed machine-id, quiet boots, and
# dpkg told to keep this project's docs (the rootfs excludes /usr/share/doc,
# the quickstart copies the example configuration from there).
identity() {
	local r=$1
	install -m 0755 vmtest/guest/vmtest-runner "$r/usr/local/sbin/vmtest-runner"
	install -m 0644 vmtest/guest/vmtest-run.service "$r/etc/systemd/system/vmtest-run.service"
	install -d "$r/etc/systemd/system/multi-user.target.wants"
	ln -sf ../vmtest-run.service "$r/etc/systemd/system/multi-user.target.wants/vmtest-run.service"
	echo vmtest > "$r/etc/hostname"
	# A stand-in host key: persisted by the default config's /etc/ssh.
	install -d -m 0755 "$r/etc/ssh"
	echo "vmtest stand-in host key" > "$r/etc/ssh/ssh_host_ed25519_key"
	chmod 0600 "$r/etc/ssh/ssh_host_ed25519_key"
	# A server has a committed machine-id (persisted by the default config).
	chroot "$r" systemd-machine-id-setup >/dev/null
	# Quiet, fast non-interactive boots.
	local u
	for u in getty@tty1.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	printf 'path-include=/usr/share/doc/server-impermanence/*\n' > "$r/etc/dpkg/dpkg.cfg.d/zz-server-impermanence-docs"
}

# rootfs SUITE: the root filesystem of SUITE, cached by content hash; sets $rootfs.
rootfs() {
	local suite=$1 key tmp
	local recipe_version=1
	key=$(printf '%s\n' "$recipe_version" "$suite" "$mirror" "$security" "$packages" | sha256sum | cut -c1-16)
	rootfs=$cache/rootfs-$key.tar.zst
	if [ ! -s "$rootfs" ]; then
		log "building root filesystem $rootfs (mmdebstrap, cold)"
		tmp=$cache/rootfs-$key.tmp.tar
		rm -f "$tmp"
		INITRD=No mmdebstrap --quiet --variant=essential \
			--include="${packages// /,}" \
			--dpkgopt='path-exclude=/usr/share/doc/*' \
			--dpkgopt='path-exclude=/usr/share/man/*' \
			--dpkgopt='path-exclude=/usr/share/locale/*' \
			--dpkgopt='path-include=/usr/share/locale/locale.alias' \
			--dpkgopt='path-exclude=/usr/lib/firmware/*' \
			--dpkgopt='path-exclude=/lib/firmware/*' \
			"$suite" "$tmp" \
			"deb $mirror $suite main" "deb $mirror $suite-updates main" \
			"deb $security $suite-security main" > "$cache/rootfs-$key.log" 2>&1 || {
			tail -n 40 "$cache/rootfs-$key.log" >&2
			echo "vmtest: mmdebstrap of $suite failed (full log: $cache/rootfs-$key.log)" >&2
			return 1
		}
		zstd -q -T0 --rm -f "$tmp" -o "$rootfs.tmp"
		mv "$rootfs.tmp" "$rootfs"
	else
		log "root filesystem cached: $rootfs"
	fi
}

# mkinitrd ROOT NAME MODULES: a dracut initrd built in the chroot ROOT
# (proc, sys and dev bound), written to $work/NAME.
mkinitrd() {
	local r=$1 name=$2 mods=$3 d
	for d in proc sys dev; do
		mount --bind "/$d" "$r/$d"; chrootmounts+=("$r/$d")
	done
	chroot "$r" dracut --quiet --force --no-hostonly --no-compress \
		--modules "$mods" --drivers "$drivers" --kver "$kver" "/tmp/$name" \
		|| { echo "vmtest: dracut failed for $name" >&2; return 1; }
	mv "$r/tmp/$name" "$work/$name"
	for ((i=${#chrootmounts[@]}-1; i>=0; i--)); do umount "${chrootmounts[i]}"; done
	chrootmounts=()
}

work=""
loop=""
chrootmounts=()
cleanup() {
	set +e
	for ((i=${#chrootmounts[@]}-1; i>=0; i--)); do umount "${chrootmounts[i]}"; done
	[ -n "$work" ] && mountpoint -q "$work/top" && umount "$work/top"
	[ -n "$loop" ] && losetup -d "$loop"
	[ -n "$work" ] && rm -rf "$work/top"
	[ -n "${debdir:-}" ] && rm -rf "$debdir"
}
trap cleanup EXIT

# The project as an operator installs it: the Debian package of this
# checkout (scripts/build-deb.sh), built once for every suite.
log "Debian package (scripts/build-deb.sh)"
debdir=$(mktemp -d "$cache/deb.XXXXXX")
"$repo/scripts/build-deb.sh" "$debdir/deb" > "$debdir/deb.log" 2>&1 || {
	tail -n 30 "$debdir/deb.log" >&2
	echo "vmtest: building the Debian package failed" >&2
	exit 1
}
deb=$(tail -n 1 "$debdir/deb.log")
[ -f "$deb" ] || { echo "vmtest: build-deb.sh printed no package path (got '$deb')" >&2; exit 1; }

# image SUITE: every image of SUITE into $cache/image-SUITE.
image() {
	local suite=$1 out=$cache/image-$1 root plain
	rootfs "$suite"
	work=$cache/image-$suite.tmp
	rm -rf "$work"
	mkdir -p "$work/top"

	# 2. Disk image.
	truncate -s "$size" "$work/disk.img"
	mkfs.btrfs -q -f -L server "$work/disk.img" >/dev/null 2>&1
	loop=$(losetup --find --show "$work/disk.img")
	mount -o subvolid=5 "$loop" "$work/top"
	btrfs -q subvolume create "$work/top/@root"
	# As an operator converting a server would: the configured compression first.
	btrfs property set "$work/top/@root" compression zstd
	root=$work/top/@root
	zstd -dc "$rootfs" | tar -x -C "$root" --numeric-owner --xattrs
	identity "$root"

	# 3. The package installed by dpkg in the chroot, which runs its
	# postinst; then the configuration.
	log "$suite: dpkg -i in @root"
	cp "$deb" "$root/tmp/server-impermanence.deb"
	cp "$deb" "$work/server-impermanence.deb"
	chroot "$root" dpkg -i /tmp/server-impermanence.deb >"$work/dpkg.log" 2>&1 || {
		cat "$work/dpkg.log" >&2
		echo "vmtest: dpkg -i of the package failed in the $suite image" >&2
		return 1
	}
	rm -f "$root/tmp/server-impermanence.deb"
	chroot "$root" dpkg-query -W -f='${Package} ${Version} ${Status}\n' server-impermanence >&2
	install -d -m 0755 "$root/etc/server-impermanence"
	"$root/usr/lib/systemd/system-generators/server-impermanence-generator" --print-default \
		> "$root/etc/server-impermanence/config.toml"

	# 4. Initrds, built by dracut in the chroot.
	: > "$root/etc/fstab"
	kver=$(ls "$root/lib/modules" | sort -V | tail -n1)
	log "$suite: dracut ($kver)"
	mkinitrd "$root" initrd.img "$modules"
	install -d "$root/etc/server-impermanence/config.d"
	printf 'mode = "vmtest-invalid"\n' > "$root/etc/server-impermanence/config.d/99-vmtest-invalid.toml"
	mkinitrd "$root" initrd-invalid.img "$modules"
	rm -rf "$root/etc/server-impermanence/config.d"
	cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
	rm -f "$root"/boot/initrd.img*
	chroot "$root" dpkg-query -W -f='${Version}\n' systemd > "$work/systemd-version"
	echo "$kver" > "$work/kernel-version"

	# 5. Provision the default layout and capture the blank from the installed root.
	log "$suite: impermanence-provision --blank-from @root"
	"$root/usr/sbin/impermanence-provision" --config "$root/etc/server-impermanence/config.toml" \
		--mount "$work/top" --blank-from @root > "$work/provision.log"
	# The permanent /var/log starts with what the installed root had there, plus
	# /var/log/journal: a persistent journal (Debian 12 keeps it volatile
	# otherwise), so scenario 3 counts MESSAGE_IDs across boots.
	chroot "$root" install -d -o root -g systemd-journal -m 2755 /var/log/journal
	cp -a "$root/var/log/." "$work/top/@var-log/"
	btrfs subvolume list "$work/top" > "$work/subvolumes.txt"

	umount "$work/top"
	losetup -d "$loop"; loop=""

	# 6. A plain Debian system for the quickstart scenario, as the Debian
	# installer leaves a btrfs root: the system in subvolume @rootfs, an fstab
	# line naming subvol=@rootfs, a dracut initrd without this project, and the
	# project not installed (the scenario installs the package from the vmtest
	# disk and follows docs/quickstart.md).
	log "$suite: plain system in @rootfs (quickstart scenario)"
	truncate -s "$size" "$work/disk-plain.img"
	mkfs.btrfs -q -f -L server "$work/disk-plain.img" >/dev/null 2>&1
	loop=$(losetup --find --show "$work/disk-plain.img")
	mount -o subvolid=5 "$loop" "$work/top"
	btrfs -q subvolume create "$work/top/@rootfs"
	plain=$work/top/@rootfs
	zstd -dc "$rootfs" | tar -x -C "$plain" --numeric-owner --xattrs
	identity "$plain"
	printf 'UUID=%s / btrfs defaults,subvol=@rootfs 0 0\n' "$(blkid -s UUID -o value "$loop")" > "$plain/etc/fstab"
	mkinitrd "$plain" initrd-plain.img "${modules% server-impermanence}"
	# The test boots the initrd it finds in @rootfs/boot, as GRUB would.
	rm -f "$plain"/boot/initrd.img*
	mv "$work/initrd-plain.img" "$plain/boot/initrd.img-$kver"
	umount "$work/top"
	losetup -d "$loop"; loop=""

	rmdir "$work/top"
	echo "$suite" > "$work/suite"
	rm -rf "$out"
	mv "$work" "$out"
	work=""
	log "$suite: image ready in $out (systemd $(cat "$out/systemd-version"), kernel $(cat "$out/kernel-version"), $(du -sh "$out/disk.img" | cut -f1) used)"
}

rm -rf "$cache/image" "$cache/image.tmp" # the single-suite layout of older versions
for s in $suites; do
	image "$s"
done
log "images ready ($suites) in $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo ?)s"
