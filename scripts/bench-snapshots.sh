#!/usr/bin/env bash
# Benchmarks of snapshot automation, side by side on fresh loop
# filesystems made by the Go benchmarks (root needed; they skip otherwise):
#   - retention plan of 100,000 snapshots (pure; target <= 100 ms)
#   - one impermanence-snapshot run over 7 subvolumes vs seven
#     `btrfs subvolume snapshot -r` commands (target <= 1.2x)
#   - impermanence-prune of 5,000 hourly snapshots to about 41 kept
#     (target <= 1 s for the command, space returned within 5 s)
# snapper and btrbk run beside us in scripts/bench-snapshot-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
filter() { grep -E '^(Benchmark|ok|FAIL|---)' || true; }
echo "== retention plan, 100,000 snapshots"
$GO test -run '^$' -bench 'Select100k' -benchmem ./internal/retention/ | filter
echo "== snapshot of 7 subvolumes: impermanence-snapshot vs 7x btrfs subvolume snapshot -r"
$GO test -run '^$' -bench 'Snapshot7' -benchtime 20x ./internal/snapshot/ 2>&1 | filter
echo "== prune of 5,000 hourly snapshots"
$GO test -run '^$' -bench 'Prune5000' -benchtime 1x -timeout 10m ./internal/prune/ 2>&1 | filter
