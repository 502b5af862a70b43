#!/bin/bash
# Side-by-side benchmark of impermanence-rollback and the common shell recipe
# (scripts/rollback-recipe.sh) on identically built fresh loop-device
# filesystems: 30 archives (15 expired, one with a nested subvolume) of
# BENCH_FILES small files each (default 10000; 100000 takes long to build:
# BENCH_FILES=100000 make bench).
# Needs root. Prints the time of each and the time until the space is back.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_FILES=${BENCH_FILES:-10000}
exec go test -run '^$' -bench 'BenchmarkRollbackVsRecipe' -benchtime 1x -timeout 60m ./internal/rollback/
