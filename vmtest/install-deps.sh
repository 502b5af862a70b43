#!/usr/bin/env bash
# Host packages the VM tier needs (Debian). Idempotent; quiet when all are present.
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils mmdebstrap btrfs-progs zstd cpio e2fsprogs prometheus)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "vmtest: missing host packages (run as root to install): ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
