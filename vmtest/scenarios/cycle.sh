# Scenarios 1 (impermanence cycle), 2 (snapshots and cleanup through systemd,
# boot 2) and 3 (exporter and journal), over three boots.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"

# --- 1: impermanence cycle
eq s1.failed-units "$(failed_units)" ""
check s1.setup-service-succeeded-in-initrd setup_ok
eq s1.rollback-result "$(json_field result /run/server-impermanence/rollback.json)" success
if [ "$b" -gt 1 ]; then
	check s1.root-file-gone test ! -e /vmtest-marker
	check s1.var-tmp-file-gone test ! -e /var/tmp/vmtest-marker
	# s1.previous-root-archived: checked by the host after power-off
	eq s1.persist-file "$(cat /persist/vmtest-boots)" "$(seq -s' ' 1 $((b-1)))"
	eq s1.machine-id "$(cat /etc/machine-id)" "$(cat "$state/machine-id")"
	eq s1.ssh-host-key "$(sha256sum < /etc/ssh/ssh_host_ed25519_key)" "$(cat "$state/hostkey")"
	eq s1.persisted-dir-file "$(cat /etc/ssh/vmtest-boot1 2>/dev/null)" boot1
fi
check s1.etc-ssh-is-bind findmnt -n /etc/ssh
check s1.machine-id-is-bind findmnt -n /etc/machine-id
echo "boot$b" > /vmtest-marker
echo "boot$b" > /var/tmp/vmtest-marker
echo -n "$(cat /persist/vmtest-boots 2>/dev/null) $b" | sed 's/^ //' > /persist/vmtest-boots.tmp && mv /persist/vmtest-boots.tmp /persist/vmtest-boots
[ "$b" = 1 ] && { cat /etc/machine-id > "$state/machine-id"; sha256sum < /etc/ssh/ssh_host_ed25519_key > "$state/hostkey"; echo boot1 > /etc/ssh/vmtest-boot1; }

# --- 3: journal and audit log (every boot)
# The journal is persistent (/var/log/journal on the persisted @var-log, as
# build-image.sh sets it up): one RollbackDone per boot, this one included,
# and every earlier boot still listed (the initrd's entries reach the disk
# through the flush after var-log.mount).
eq s3.rollback-done-this-boot "$(journalctl -b -o cat MESSAGE_ID=e35428361cfb4c9d9e94e81fdd9f6956 | grep -c .)" 1
eq s3.rollback-done-every-boot "$(journalctl -o cat MESSAGE_ID=e35428361cfb4c9d9e94e81fdd9f6956 | grep -c .)" "$b"
eq s3.journal-boots "$(journalctl --list-boots --no-pager 2>/dev/null | grep -cE "[0-9a-f]{32}")" "$b"
check s3.journal-on-var-log sh -c 'test -n "$(ls /var/log/journal/$(cat /etc/machine-id)/system*.journal 2>/dev/null)"'
eq s3.audit-rollback-runs "$(grep '"job":"rollback"' /var/log/server-impermanence/audit.jsonl | grep -c '"action":"run"')" "$b"

# --- 2: snapshots and cleanup through systemd (boot 2)
# The scenario drives the jobs itself: the timers are listed first, then
# stopped, and a run they started during boot (the hourly one fires when a
# boot crosses the hour, or catches up with Persistent=) is waited for, so
# the counts below are the scenario's own and not the clock's.
snaps() { ls -1 "/.snapshots/$1" 2>/dev/null | grep -c '^[0-9]\{8\}T[0-9]\{6\}Z$'; }
quiesce() {
	systemctl stop server-snapshots.timer server-snapshots-cleanup.timer btrfs-maintenance.timer
	local i
	for i in $(seq 120); do
		case "$(systemctl show -p ActiveState --value server-snapshots.service server-snapshots-cleanup.service btrfs-maintenance.service)" in
		*activating*|*deactivating*) sleep 1 ;;
		*) return 0 ;;
		esac
	done
}
if [ "$b" = 2 ]; then
	cal() { systemctl show -p TimersCalendar --value "$1" | sed -n 's/.*OnCalendar=\([^;]*\) ;.*/\1/p' | sed 's/ *$//'; }
	systemctl list-timers --all --no-pager > "$out/timers.txt"
	for u in server-snapshots.timer server-snapshots-cleanup.timer btrfs-maintenance.timer; do
		check "s2.listed-$u" grep -q " $u " "$out/timers.txt"
	done
	eq s2.schedule-snapshots "$(cal server-snapshots.timer)" "*-*-* *:00:00"
	eq s2.schedule-cleanup "$(cal server-snapshots-cleanup.timer)" "*-*-* 00:00:00"
	eq s2.schedule-maintenance "$(cal btrfs-maintenance.timer)" "Mon *-*-* 00:00:00"
	quiesce
	declare -A before
	for s in @persist @var-log @var-lib-services @var-lib-caddy; do before[$s]=$(snaps "$s"); done
	t0=$(date +%s.%N)
	check s2.snapshots-service systemctl start server-snapshots.service
	metric snapshot_service_seconds "$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || awk "BEGIN{print $(date +%s.%N)-$t0}")"
	metric snapshot_seconds "$(json_field duration /var/lib/server-impermanence/snapshot.json)"
	for s in @persist @var-log @var-lib-services @var-lib-caddy; do
		eq "s2.snapshot-$s" "$(( $(snaps "$s") - before[$s] ))" 1
		f=$(ls -1d "/.snapshots/$s"/* 2>/dev/null | sort | tail -n1)
		eq "s2.snapshot-$s-readonly" "$(btrfs property get -ts "$f" ro 2>&1)" ro=true
	done
	check s2.not-snapshotted-@nix test ! -e /.snapshots/@nix
	# Three old snapshots in one hour: retention keeps the newest of the hour.
	for n in 20200101T000000Z 20200101T000100Z 20200101T000200Z; do
		btrfs -q subvolume snapshot -r /persist "/.snapshots/@persist/$n"
	done
	fresh=$(ls -1 /.snapshots/@persist | grep -c '^202[6-9]')
	impermanence-prune --config /etc/server-impermanence/config.toml --dry-run > "$out/prune-dry-run.txt" 2>&1
	check s2.cleanup-service systemctl start server-snapshots-cleanup.service
	check s2.cleanup-deleted-older-in-hour test ! -e /.snapshots/@persist/20200101T000000Z -a ! -e /.snapshots/@persist/20200101T000100Z
	check s2.cleanup-kept-newest-in-hour test -e /.snapshots/@persist/20200101T000200Z
	# every fresh snapshot is younger than min_age: none is deleted
	eq s2.cleanup-kept-fresh "$(ls -1 /.snapshots/@persist | grep -c '^202[6-9]')" "$fresh"
	eq s2.failed-units-after "$(failed_units)" ""
fi
[ "$b" = 3 ] && quiesce

# --- 3: exporter (after the jobs of boot 2 on boot 2 and 3)
scrape > "$out/scrape.txt" 2>&1
check s3.exporter-answers grep -q '^impermanence_build_info' "$out/scrape.txt"
rb=$(grep '^impermanence_job_last_duration_seconds{job_name="rollback"}' "$out/scrape.txt" | awk '{print $2}')
check s3.exporter-rollback-duration test -n "$rb"
metric exporter_rollback_seconds "${rb:-none}"
eq s3.exporter-rollback-this-boot "$(grep '^impermanence_rollback_this_boot ' "$out/scrape.txt" | awk '{print $2}')" 1
eq s3.exporter-config-valid "$(grep '^impermanence_config_valid ' "$out/scrape.txt" | awk '{print $2}')" 1
if [ "$b" -ge 2 ]; then
	# the exporter counts what is on disk (the timers are quiet: see quiesce)
	eq s3.exporter-snapshots-@persist "$(grep '^impermanence_snapshots{.*subvolume="@persist"' "$out/scrape.txt" | awk '{s+=$2} END{print s+0}')" "$(snaps @persist)"
	check s3.exporter-snapshots-@persist-some test "$(snaps @persist)" -ge 2
fi
if [ "$b" = 2 ]; then
	tf=/var/lib/prometheus/node-exporter/server_impermanence.prom
	check s3.textfile-exists test -s $tf
	cp $tf "$out/" 2>/dev/null
	eq s3.textfile-parses "$(grep -v '^#' $tf | grep -cvE '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([-+]?[0-9.eE+-]+|NaN|[+-]Inf)$')" 0
fi
