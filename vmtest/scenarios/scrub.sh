# Scenario 11: a slow disk scrubs across runs without a failed unit. The host
# throttles the root disk (QEMU throttling.bps-total) and put enough data on
# it that one scrub outlasts the unit's timeout, shortened by a drop-in
# (params: timeout=<seconds>). server-impermanence-scrub.service runs until
# the pass completes (at most maxruns runs): every run ends with the unit's
# result success, the runs before the last are recorded interrupted and
# advance the pass; the last records success and the time of the pass. The
# host checks the number of runs against the documented bound from each
# run's record (run<N>/scrub.json, scrub-pass.json, metrics.txt).
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
. "$VMTEST_DIR/params"
u=server-impermanence-scrub.service
st=/var/lib/server-impermanence

check sc.data-present test -s /persist/vmtest-scrub-data
mkdir -p "/run/systemd/system/$u.d"
printf '[Service]\nTimeoutStartSec=%ss\n' "$timeout" > "/run/systemd/system/$u.d/50-vmtest.conf"
systemctl daemon-reload
eq sc.timeout "$(systemctl show -p TimeoutStartUSec --value "$u")" "$(systemd-analyze timespan "${timeout}s" | sed -n 's/^ *Human: //p')"
btrfs filesystem usage -b / > "$out/usage.txt" 2>&1

prev=0 done=no
for r in $(seq "$maxruns"); do
	d=$out/run$r
	mkdir -p "$d"
	t0=$(date +%s.%N)
	systemctl start "$u"
	eq "sc.run$r-start" "$?" 0
	awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }' > "$d/wall"
	eq "sc.run$r-unit-result" "$(systemctl show -p Result --value "$u")" success
	cp "$st/scrub.json" "$st/scrub-pass.json" "$d/" 2>/dev/null
	scrape_body > "$d/metrics.txt"
	ratio=$(awk '/^impermanence_scrub_pass_progress_ratio / {print $2}' "$d/metrics.txt")
	res=$(json_field result "$st/scrub.json")
	if [ "$res" = success ]; then
		done=yes
		eq "sc.run$r-progress-complete" "$ratio" 1
		check "sc.run$r-pass-completed-metric" grep -q '^impermanence_scrub_last_pass_completed_timestamp_seconds ' "$d/metrics.txt"
		break
	fi
	eq "sc.run$r-interrupted" "$res" interrupted
	check "sc.run$r-progress-advanced" awk -v a="$ratio" -v b="$prev" 'BEGIN { exit !(a + 0 > b + 0) }'
	prev=$ratio
done
eq sc.pass-completed "$done" yes
eq sc.failed-units "$(failed_units)" ""
check sc.no-scrub-failure-logged sh -c '! journalctl -b -o cat -u "server-impermanence-failure@*" | grep -q .'
