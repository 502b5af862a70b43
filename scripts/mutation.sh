#!/usr/bin/env bash
# Mutation testing of the pure cores with gremlins (docs/testing.md).
#
#   scripts/mutation.sh [package ...]     # default: every package of the table below
#
# Installs gremlins at a fixed version into the tools cache
# (${IMPERMANENCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/server-impermanence/tools}),
# then runs it on one package at a time (MUTATION_WORKERS workers, 1 by
# default: the machine is shared), writes each package's JSON and log to
# bin/mutation/. gremlins never runs a mutant outside its coverage blocks,
# and every expression of a switch case is outside them: a second pass
# (internal/mutant/mutantrun) runs those through go test -overlay. Prints
# the table: mutants, killed, lived, timed out, not viable, efficacy,
# runtime. Exits 1 when a package's efficacy is below MUTATION_THRESHOLD
# (90 by default).
set -euo pipefail

GREMLINS_VERSION=v0.6.0
tools=${IMPERMANENCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/server-impermanence/tools}
gremlins=$tools/gremlins
if [ ! -x "$gremlins" ] || [ ! -e "$tools/.gremlins-$GREMLINS_VERSION" ]; then
	echo "mutation: building gremlins $GREMLINS_VERSION into $tools"
	mkdir -p "$tools"
	GOBIN="$tools" GOFLAGS=-mod=mod go install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION"
	touch "$tools/.gremlins-$GREMLINS_VERSION"
fi

cd "$(dirname "$0")/.."
out=bin/mutation
mkdir -p "$out"

# package ; files not mutated (regexp on the name in the package) ; tests not run (go test -skip)
# Only the pure cores are mutated: the rollback's and prune's plans, not
# their btrfs shells, and only by the tests that need neither root nor a
# real btrfs nor systemd-analyze: those take seconds per run, and run in
# `make test`. The figures say what the pure tests prove.
targets=(
	"retention;;"
	"rollback;^(apply|boot|observe|run)\.go$;^(TestCrashAtEveryStep|TestFailSafeRefusals|TestPrune40Archives|TestSkips|TestHaltAfterSwitch|TestRollbackAppliesStagedRestore|TestRollbackDefaultLayout|TestRollbackJSONAndDryRun)$"
	"prune;^run\.go$;^(TestConcurrentJobs|TestPruneTimeAfterLock|TestPrune1000AgainstPurePlan)$"
	"config;^(config|decode|default|doc|errors|limits|load|merge|schema|tree)\.go$;" # its validation
	"names;^namestest/;"
	"calendar;;Systemd"
	"timespan;;Systemd"
)

want=("$@")
threshold=${MUTATION_THRESHOLD:-90}
workers=${MUTATION_WORKERS:-1}
rows=()
fail=0
for t in "${targets[@]}"; do
	IFS=';' read -r pkg exclude skip <<<"$t"
	if [ ${#want[@]} -gt 0 ] && [[ " ${want[*]} " != *" $pkg "* ]]; then
		continue
	fi
	args=(unleash --workers "$workers" --test-cpu 1 --timeout-coefficient 5 --invert-logical --invert-loopctrl
		--output "$out/$pkg.json")
	if [ -n "${MUTATION_FILES:-}" ]; then
		# Only the files whose names match: exclude every other one.
		others=$(cd "internal/$pkg" && ls -- *.go | grep -v '_test\.go$' | grep -Ev -- "$MUTATION_FILES" | sed 's/\./\\./g' | paste -sd'|' || true)
		exclude="/" # and every file in a subfolder
		[ -z "$others" ] || exclude="^($others)\$|/"
	fi
	[ -z "$exclude" ] || args+=(--exclude-files "$exclude")
	flags=${GOFLAGS:-}
	[ -z "$skip" ] || flags="$flags -skip=$skip"
	echo "mutation: internal/$pkg"
	start=$(date +%s)
	GOFLAGS="$flags" nice "$gremlins" "${args[@]}" "./internal/$pkg" >"$out/$pkg.log" 2>&1 || true
	# Killed: 62, Lived: 0, Not covered: 14 / Timed out: 0, Not viable: 0, ...
	read -r killed lived uncovered < <(sed -n 's/^Killed: \([0-9]*\), Lived: \([0-9]*\), Not covered: \([0-9]*\).*/\1 \2 \3/p' "$out/$pkg.log")
	read -r timedout notviable < <(sed -n 's/^Timed out: \([0-9]*\), Not viable: \([0-9]*\).*/\1 \2/p' "$out/$pkg.log")
	if [ -z "$killed" ] || [ -z "$timedout" ] || [ ! -s "$out/$pkg.json" ]; then
		echo "mutation: internal/$pkg: gremlins gave no result, see $out/$pkg.log" >&2
		fail=1
		continue
	fi
	# Second pass: the mutants gremlins does not run (switch cases).
	go run ./internal/mutant/mutantrun -report "$out/$pkg.json" ${skip:+-skip "$skip"} -timeout 1m "./internal/$pkg" >"$out/$pkg.uncovered.log" 2>&1 || {
		echo "mutation: internal/$pkg: mutantrun failed, see $out/$pkg.uncovered.log" >&2
		fail=1
		continue
	}
	read -r k2 l2 nv2 to2 < <(sed -n 's/^Killed: \([0-9]*\), Lived: \([0-9]*\), Not viable: \([0-9]*\), Timed out: \([0-9]*\)$/\1 \2 \3 \4/p' "$out/$pkg.uncovered.log")
	killed=$((killed + k2)) lived=$((lived + l2)) notviable=$((notviable + nv2)) timedout=$((timedout + to2))
	secs=$(($(date +%s) - start))
	# Efficacy as gremlins computes it: killed / (killed + lived); a
	# timed-out mutant is neither (it is counted apart).
	efficacy=$(awk -v k="$killed" -v l="$lived" 'BEGIN{printf "%.2f", (k + l) ? 100 * k / (k + l) : 100}')
	grep -hE '^ +LIVED ' "$out/$pkg.log" "$out/$pkg.uncovered.log" | sed "s|^ *|  internal/$pkg: |" || true
	rows+=("$(printf '%-10s %7d %6d %5d %8d %10d %8s%% %6ds' "$pkg" $((killed + lived + timedout)) "$killed" "$lived" \
		"$timedout" "$notviable" "$efficacy" "$secs")")
	if awk -v e="$efficacy" -v t="$threshold" 'BEGIN{exit !(e < t)}'; then
		fail=1
	fi
done

printf '%-10s %7s %6s %5s %8s %10s %9s %7s\n' package mutants killed lived timedout notviable efficacy runtime
printf '%s\n' "${rows[@]}"
if [ "$fail" -ne 0 ]; then
	echo "mutation: a package is below ${threshold}% efficacy or gave no result" >&2
	exit 1
fi
