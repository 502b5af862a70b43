#!/usr/bin/env bash
# Installs the Debian packages that the tests, the benchmarks and the demo
# use, when any is missing. Idempotent; needs root only when it installs.
#   scripts/install-deps.sh            the tests, make bench, the demo
#   scripts/install-deps.sh bench      make bench's references (scripts/bench.sh)
#   scripts/install-deps.sh bench-io   make bench-io (scripts/bench-io.sh)
set -euo pipefail

case "${1:-}" in
"")
	# debhelper, lintian: the Debian package test (internal/installtest);
	# man-db: man --warnings on the rendered man pages (internal/manpage);
	# strace: the syscall-count tests (internal/syscount); postgresql: the
	# snapshot hook test with a real database (internal/snapshot);
	# openssh-server, openssh-client, iproute2, zstd: the SSH target tests
	# (internal/send starts sshd in a network namespace of its own);
	# grub-common: grub-mkconfig, its library, grub-probe and
	# grub-script-check for the GRUB menu script's test (internal/installtest;
	# it installs no boot loader and runs no update-grub).
	packages=(btrfs-progs btrfs-compsize e2fsprogs util-linux systemd dbus prometheus debhelper lintian man-db strace postgresql
		openssh-server openssh-client iproute2 zstd grub-common) ;;
bench)
	# btrbk: the reference of the prune and send rows (the other rows use
	# btrfs-progs and systemd-fstab-generator from the list above);
	# openssh-server, openssh-client, iproute2, zstd: the SSH rows (sshd in
	# a network namespace, the references' ssh and zstd).
	packages=(btrfs-progs util-linux systemd btrbk openssh-server openssh-client iproute2 zstd) ;;
bench-io)
	# postgresql: initdb, pg_ctl and pgbench; fio: the random and
	# sequential workloads; btrfs-compsize: on-disk sizes; tar: the tree.
	packages=(btrfs-progs btrfs-compsize util-linux systemd tar postgresql fio) ;;
*)
	echo "install-deps: unknown list ${1} (none, bench or bench-io)" >&2
	exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages: ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
