# Scenario 7 (performance modes; the operator changes the mode in the blank,
# as a golden-image update would; boots 2 and 3 with a [sysctl] drop-in
# added in boot 1: an override of the mode, an addition, a parameter no
# kernel has) and 8 (failure alerting, last boot).
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
setmode() { # mode in the live config and in @root-blank
	mkdir -p /run/vmtest-rw && mount -o subvolid=5 /dev/disk/by-label/server /run/vmtest-rw
	btrfs property set -ts /run/vmtest-rw/@root-blank ro false
	for c in /etc/server-impermanence/config.toml /run/vmtest-rw/@root-blank/etc/server-impermanence/config.toml; do
		sed -i "s/^mode *=.*/mode = \"$1\"/" "$c"
	done
	btrfs property set -ts /run/vmtest-rw/@root-blank ro true
	umount /run/vmtest-rw
}
# setsysctl: a [sysctl] drop-in in the live config and in @root-blank
setsysctl() {
	mkdir -p /run/vmtest-rw && mount -o subvolid=5 /dev/disk/by-label/server /run/vmtest-rw
	btrfs property set -ts /run/vmtest-rw/@root-blank ro false
	for d in /etc/server-impermanence/config.d /run/vmtest-rw/@root-blank/etc/server-impermanence/config.d; do
		mkdir -p "$d"
		printf '[sysctl]\nvm.swappiness = 7\n"net/core/somaxconn" = 2048\nvm.vmtest_no_such_parameter = 1\n' > "$d/50-vmtest-sysctl.toml"
	done
	btrfs property set -ts /run/vmtest-rw/@root-blank ro true
	umount /run/vmtest-rw
}
rootopts() { findmnt -n -o OPTIONS /; }
sysctl_of() { sysctl -n "$1"; }
# mode file keys: every key of the mode's sysctl drop-in has its value
# (but the keys named after the mode, which [sysctl] overrides)
sysctl_matches() {
	local f=/usr/lib/server-impermanence/sysctl/$1.conf bad=0 k v; shift
	while IFS='=' read -r k v; do
		k=$(echo $k); v=$(echo $v)
		[ -z "$k" ] && continue
		case $k in \#*|\;*) continue;; esac
		case " $* " in *" $k "*) continue;; esac
		[ "$(sysctl -n "$k" 2>/dev/null | tr -s '\t ' ' ')" = "$(echo "$v" | tr -s '\t ' ' ')" ] || { echo "$k: $(sysctl -n "$k") != $v"; bad=1; }
	done < "$f"
	return $bad
}
eq s7.tune-active "$(systemctl is-active server-impermanence-tune.service)" active
findmnt -rn -o TARGET,OPTIONS -t btrfs > "$out/mountinfo.txt"
case $b in
1)
	check s7.balanced-sysctl sysctl_matches balanced
	# commit=30 is the kernel default: mountinfo does not show it
	check s7.balanced-commit-default sh -c '! findmnt -n -o OPTIONS / | grep -q "commit=" || findmnt -n -o OPTIONS / | grep -q "commit=30"'
	check s7.balanced-compress sh -c 'findmnt -n -o OPTIONS / | grep -q "compress=zstd:1"'
	setsysctl
	setmode io-optimized
	;;
2)
	check s7.io-sysctl sysctl_matches io-optimized vm.swappiness
	# [sysctl]: the override of the mode's vm.swappiness (1) and the
	# addition are live; the parameter no kernel has is a warning, the unit
	# is active (checked above) and --check names each value's source
	eq s7.sysctl-override "$(cat /proc/sys/vm/swappiness)" 7
	eq s7.sysctl-added "$(cat /proc/sys/net/core/somaxconn)" 2048
	check s7.sysctl-missing-warned sh -c "journalctl -b -u server-impermanence-tune.service -o cat | grep -q 'sysctl vm.vmtest_no_such_parameter = 1 (from /etc/server-impermanence/config.d/50-vmtest-sysctl.toml:4:4) not applied: the running kernel has no such parameter'"
	server-impermanence-generator --check > "$out/check.txt" 2>&1
	check s7.sysctl-check-source grep -qE '^  vm.swappiness +7 +/etc/server-impermanence/config.d/50-vmtest-sysctl.toml:2:4 \(replaces /usr/lib/server-impermanence/sysctl/io-optimized.conf:[0-9]+\)$' "$out/check.txt"
	check s7.sysctl-check-missing grep -q 'sysctl vm.vmtest_no_such_parameter (/etc/server-impermanence/config.d/50-vmtest-sysctl.toml:4:4): the running kernel has no such parameter' "$out/check.txt"
	# The exporter's textfile is refreshed by the job unit's ExecStopPost=
	# in this boot: newer than before the job, with the job's success.
	tf=/var/lib/prometheus/node-exporter/server_impermanence.prom
	t0=$(date +%s)
	sleep 1
	check s7.snapshot-job systemctl start server-snapshots.service
	eq s7.textfile-refreshed "$([ "$(stat -c %Y $tf 2>/dev/null || echo 0)" -ge "$t0" ] && echo yes)" yes
	eq s7.textfile-job-success "$(grep '^impermanence_job_last_result{.*job_name="snapshot".*result="success"' $tf | awk '{print $2}')" 1
	eq s7.textfile-job-this-run "$(awk '/^impermanence_job_last_run_timestamp_seconds\{.*job_name="snapshot"/ { print ($2 >= '"$t0"') ? "yes" : "no" }' $tf)" yes
	check s7.io-commit-60 sh -c 'findmnt -n -o OPTIONS / | grep -q "commit=60"'
	check s7.io-compress sh -c 'findmnt -n -o OPTIONS / | grep -q "compress=zstd:1"'
	check s7.io-same-everywhere sh -c '! findmnt -rn -o OPTIONS -t btrfs | grep -v "commit=60" | grep -q .'
	setmode space-optimized
	;;
3)
	check s7.space-sysctl sysctl_matches space-optimized vm.swappiness
	eq s7.space-sysctl-override "$(cat /proc/sys/vm/swappiness)" 7
	check s7.space-compress-force sh -c 'findmnt -n -o OPTIONS / | grep -q "compress-force=zstd:6"'
	check s7.space-same-everywhere sh -c '! findmnt -rn -o OPTIONS -t btrfs | grep -v "compress-force=zstd:6" | grep -q .'
	# --- 8: a snapshot job made to fail: a configured subvolume removed
	umount /var/lib/caddy
	mkdir -p /run/vmtest-rw && mount -o subvolid=5 /dev/disk/by-label/server /run/vmtest-rw
	btrfs -q subvolume delete /run/vmtest-rw/@var-lib-caddy
	umount /run/vmtest-rw
	check s8.snapshots-service-fails sh -c '! systemctl start server-snapshots.service'
	eq s8.snapshots-service-failed "$(systemctl is-failed server-snapshots.service)" failed
	sleep 2
	check s8.failure-handler-ran sh -c 'journalctl -b -u "server-impermanence-failure@server-snapshots.service.service" -o cat | grep -q "server-snapshots.service failed"'
	scrape > "$out/scrape.txt" 2>&1
	eq s8.failure-metric "$(grep '^impermanence_job_last_result{.*job_name="snapshot".*result="failure"' "$out/scrape.txt" | awk '{print $2}')" 1
	tf=/var/lib/prometheus/node-exporter/server_impermanence.prom
	eq s8.failure-textfile "$(grep '^impermanence_job_last_result{.*job_name="snapshot".*result="failure"' $tf | awk '{print $2}')" 1
	;;
esac
