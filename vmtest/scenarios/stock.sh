# Scenario 10: a stock guest. The default install as the image builder leaves
# it: nothing mounted by the harness but the vmtest disk (no top level), the
# timers left as they are. Each job runs once through its own unit (every
# service of the package that has a timer, and the scrub unit), the textfile
# must be refreshed after each; then /metrics and the textfile are captured
# (healthy/); then the snapshot job is broken (its target directory made
# immutable), run through its unit, and captured again (broken/). The host
# evaluates every shipped alert rule on both captures.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
tf=/var/lib/prometheus/node-exporter/server_impermanence.prom

eq st.no-top-level-mount "$(findmnt -rn -t btrfs -o TARGET,FSROOT | awk '$2 == "/" {print $1}')" ""
eq st.failed-units "$(failed_units)" ""
check st.setup-succeeded setup_ok
check st.exporter-active systemctl is-active server-impermanence-exporter.service

# The jobs: every service of the package with a timer, and any scrub unit.
units=$(dpkg -L server-impermanence | sed -n 's#^/.*/systemd/system/\([^/@]*\)\.\(timer\|service\)$#\1 \2#p' |
	awk '$2 == "timer" || $1 ~ /scrub/ {print $1 ".service"}' | sort -u)
echo "$units" > "$out/units.txt"
for u in server-snapshots.service server-snapshots-cleanup.service btrfs-maintenance.service; do
	check "st.job-unit-$u" grep -qx "$u" "$out/units.txt"
done
# the snapshot job first, the others in name order
units=$(echo "$units" | grep -x server-snapshots.service; echo "$units" | grep -vx server-snapshots.service)

settle() { # wait until UNIT is no longer running (ExecStopPost= included)
	local i
	for i in $(seq 600); do
		case "$(systemctl show -p ActiveState --value "$1")" in
		activating|deactivating|reloading) sleep 0.5 ;;
		*) return 0 ;;
		esac
	done
	return 1
}
lastrun() { grep '^impermanence_job_last_run_timestamp_seconds{' "$1" | sort; }
# runjob NAME UNIT WANT: start UNIT (WANT: ok or fail), then the textfile
# holds this run: each job whose last run /metrics now shows differently has
# the same line in the textfile.
runjob() {
	local n=$1 u=$2 want=$3 changed
	settle "$u"
	scrape_body > "$out/$n-before.txt"
	if systemctl start "$u"; then r=ok; else r=fail; fi
	eq "st.$n-$u-start" "$r" "$want"
	check "st.$n-$u-settled" settle "$u"
	scrape_body > "$out/$n-after.txt"
	changed=$(comm -13 <(lastrun "$out/$n-before.txt") <(lastrun "$out/$n-after.txt"))
	check "st.$n-$u-recorded-a-run" test -n "$changed"
	eq "st.$n-$u-textfile-refreshed" "$(grep -Fx -f <(echo "$changed") "$tf" 2>/dev/null | sort)" "$changed"
	cp "$tf" "$out/$n-textfile.prom" 2>/dev/null
}
capture() { # DIR: /metrics, the textfile and the time of the capture
	mkdir -p "$out/$1"
	date +%s.%N > "$out/$1/time"
	scrape_body > "$out/$1/metrics.txt"
	cp "$tf" "$out/$1/textfile.prom"
	check "st.$1-captured" test -s "$out/$1/metrics.txt" -a -s "$out/$1/textfile.prom"
}

for u in $units; do
	runjob healthy "$u" ok
done
eq st.failed-units-after-jobs "$(failed_units)" ""
capture healthy

# The broken job: the snapshot job cannot create its snapshot of @persist.
chattr +i /.snapshots/@persist
runjob broken server-snapshots.service fail
capture broken
chattr -i /.snapshots/@persist
eq st.broken-unit-failed "$(systemctl is-failed server-snapshots.service)" failed
