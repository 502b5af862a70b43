#!/usr/bin/env bash
# Measures impermanence-exporter on a host tree with 5,000 snapshots over 12
# subvolumes: wall time per /metrics scrape (curl, 50 scrapes) and the
# exporter's resident memory (VmRSS after the scrapes, VmHWM peak).
# Targets: <= 50 ms per scrape, <= 30 MB RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

CGO_ENABLED=0 go build -trimpath -o "$tmp/impermanence-exporter" ./exporter
root=$tmp/root
cp -a internal/metrics/testdata/host "$root"
cfg=$root/etc/server-impermanence/config.toml
{
	printf 'device = "/dev/disk/by-label/server"\n'
	printf '[[subvolume]]\nname = "@root"\nmountpoint = "/"\nclass = "ephemeral"\nblank = "@root-blank"\narchive = true\n'
	for i in $(seq -w 0 11); do
		printf '[[subvolume]]\nname = "@sv%s"\nmountpoint = "/srv/sv%s"\nclass = "permanent"\nsnapshot = true\n' "$i" "$i"
	done
	printf '[snapshots]\nschedule = "hourly"\n'
} >"$cfg"
t0=$(date -u -d 2026-01-01T00:00:00Z +%s)
for j in $(seq 0 4999); do
	printf '%s/.snapshots/@sv%02d/%s\n' "$root" $((j % 12)) "$(date -u -d @$((t0 + 3600 * j)) +%Y%m%dT%H%M%SZ)"
done | xargs mkdir -p
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/impermanence-exporter" --root "$root" --config "$cfg" --no-systemd --listen "127.0.0.1:$port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
n=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^impermanence_snapshots\{/ {s += $2} END {print s}')
[ "$n" = 5000 ] || { echo "bench-exporter: counted $n snapshots, want 5000" >&2; exit 1; }
total=0
for _ in $(seq 50); do
	t=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/metrics")
	total=$(awk -v a="$total" -v b="$t" 'BEGIN {print a + b}')
done
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
awk -v t="$total" -v r="$rss" -v h="$hwm" 'BEGIN {
	printf "impermanence-exporter, 5000 snapshots / 12 subvolumes: %.1f ms per scrape (50 scrapes, curl), RSS %.1f MB, peak RSS %.1f MB\n", t * 1000 / 50, r / 1024, h / 1024
	if (t * 1000 / 50 > 50 || h / 1024 > 30) { print "bench-exporter: over target (50 ms, 30 MB)"; exit 1 }
}'
