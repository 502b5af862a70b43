#!/usr/bin/env bash
# bench-io.sh: the I/O of a stock btrfs server (one filesystem, @rootfs
# mounted with defaults, CoW everywhere, the kernel's sysctls) against the
# suite's layout in each performance mode (the generator's mount options, the
# default configuration's subvolumes as impermanence-provision makes them,
# the mode's sysctl drop-in applied for the run), on the same data,
# interleaved, repeated: PostgreSQL's pgbench, a container-like tree and
# random overwrites with fsync, log appends, sequential files. Every
# measurement gets a freshly made filesystem. Prints a Markdown table and
# writes every sample as JSON (BENCH_IO_JSON, default
# /var/cache/server-impermanence-bench-io/results-io.json).
#
# Usage (root):
#   scripts/bench-io.sh                 full run (3 rounds, about 15 min on 2 cores)
#   QUICK=1 scripts/bench-io.sh         one short round
#   scripts/bench-io.sh --rounds 5 --workloads database,random --layouts stock,io-optimized
#   scripts/bench-io.sh --device /dev/sdX --destroy-data /dev/sdX   a real disk (its content is destroyed)
# Default: a sparse 8 GiB image in a fresh folder under /var/tmp (on the disk
# to measure; --image-dir elsewhere), on a loop device with direct I/O.
# Everything runs in a private mount namespace (impermanence-provision in
# one of its own whose /run, /var/lib and /var/log are empty tmpfs: its lock,
# state and audit log never touch this machine's); the image, the loop
# device and the mounts are removed at the end, and the machine's sysctl
# values are restored even if the benchmark dies.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench-io: needs root" >&2; exit 1; }
scripts/install-deps.sh bench-io
make --no-print-directory build >/dev/null

scratch=$(mktemp -d /var/tmp/bench-io.XXXXXX)
restore=$scratch/sysctl-restore.conf
cleanup() {
	set +e
	# After a crash: the machine's sysctls, then any loop device on the image.
	[ -s "$restore" ] && /usr/lib/systemd/systemd-sysctl "$restore"
	losetup -j "$scratch"/bench-io.*.img -O NAME -n 2>/dev/null | xargs -r -n1 losetup -d
	rm -rf "$scratch"
}
trap cleanup EXIT
go build -o "$scratch/bench-io" ./scripts/bench-io

args=(--repo "$PWD" --image-dir "$scratch" --sysctl-restore "$restore"
	--json "${BENCH_IO_JSON:-/var/cache/server-impermanence-bench-io/results-io.json}")
[ -n "${QUICK:-}" ] && [ "${QUICK}" != 0 ] && args+=(--quick)
echo "bench-io: load before: $(uptime)" >&2
unshare --mount --propagation private "$scratch/bench-io" "${args[@]}" "$@"
echo "bench-io: load after: $(uptime)" >&2
