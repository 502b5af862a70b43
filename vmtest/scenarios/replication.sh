# Scenario 14: replication to a local btrfs target on a second disk, then a
# restore of @persist from it (docs/replication.md), over three boots.
# boot 1: the operator's setup as the page gives it: mkfs.btrfs on the
#   second disk (virtio serial "backup"), mounted at /mnt/backup with an
#   fstab line (nofail), a [[target]] drop-in; both made permanent the way
#   docs/upgrades.md does it (impermanence-provision --commit). Data in
#   /persist, a snapshot run, the first send: full.
# boot 2: the disk mounted from fstab, the generated timer active; more
#   data, a snapshot run, the send: incremental. Then the data is damaged
#   and the server loses the newest snapshot; impermanence-restore
#   --from-target fetches it back (incremental from the older one) and
#   stages the restore of @persist for the next boot.
# boot 3: the initrd performed the staged restore: /persist holds what the
#   snapshot held (checksums of boot 2), the damaged state kept; the next
#   send is incremental from the fetched snapshot (matched by its received
#   UUID).
# The sends are runs of the generated server-impermanence-send@usb.service,
# started with systemctl: its timer (daily, RandomizedDelaySec=10min) would
# not fire within a boot; the timer is checked active and scheduled.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
dev=/dev/disk/by-id/virtio-backup
url=/mnt/backup/web1
data=/persist/vmtest-repl
send_unit=server-impermanence-send@usb.service
sums() { (cd "$data" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
newest() { ls -1 /.snapshots/@persist | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tail -n1; }
held() { ls -1 "$url/@persist" 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//'; }
uuid() { btrfs subvolume show "$1" | awk '$1 == "UUID:" { print $2 }'; }
received() { btrfs subvolume show "$1" | awk '$1 == "Received" && $2 == "UUID:" { print $3 }'; }
sendlog() { journalctl -b -u $send_unit -o cat; }
snapshot() { # a run of the snapshot unit; the newest @persist snapshot into $state/$1
	local before t0
	before=$(newest)
	t0=$(date +%s.%N)
	check "$2.snapshot-service" systemctl start server-snapshots.service
	metric snapshot_seconds "$(json_field duration /var/lib/server-impermanence/snapshot.json)"
	newest > "$state/$1"
	check "$2.snapshot-new" test "$(cat "$state/$1")" != "$before"
}
# send PREFIX SNAPSHOT WHY: a run of the generated unit sent SNAPSHOT of
# @persist, WHY being the run's reason ("full: …", "incremental from …")
send() {
	check "$1.send-service" systemctl start $send_unit
	check "$1.send-$3" sh -c "journalctl -b -u $send_unit -o cat | grep -qF 'sent @persist/$2 to usb: $4'"
	eq "$1.target-received-uuid" "$(received "$url/@persist/$2")" "$(sendable_uuid "/.snapshots/@persist/$2")"
	eq "$1.target-read-only" "$(btrfs property get -ts "$url/@persist/$2" ro)" ro=true
}
# the UUID a copy on the target carries: the snapshot's own, or the one it
# was received with (fetched back by impermanence-restore)
sendable_uuid() { local r; r=$(received "$1"); [ -n "$r" ] && [ "$r" != - ] && echo "$r" || uuid "$1"; }
eq r.failed-units "$(failed_units)" ""
case $b in
1)
	# docs/replication.md, "A USB disk"
	udevadm settle
	check r1.mkfs mkfs.btrfs -q -L backup "$dev"
	udevadm settle
	mkdir -p /mnt/backup
	check r1.mount mount LABEL=backup /mnt/backup
	mkdir "$url"
	echo 'LABEL=backup /mnt/backup btrfs nofail 0 0' >> /etc/fstab
	mkdir -p /etc/server-impermanence/config.d
	cat > /etc/server-impermanence/config.d/50-backup.toml <<'TOML'
[[target]]
name      = "usb"
url       = "/mnt/backup/web1"
schedule  = "daily"
retention = { daily = 14, weekly = 8, monthly = 24, keep_min = 3 }
TOML
	check r1.config-check server-impermanence-generator --check
	systemctl daemon-reload
	check r1.timer-generated sh -c 'systemctl show -p Wants --value timers.target | tr " " "\n" | grep -qx "server-impermanence-send@usb.timer"'
	mkdir -p "$data/dir"
	dd if=/dev/urandom of="$data/blob" bs=1M count=4 status=none
	echo boot1 > "$data/note"
	seq 1 20000 > "$data/dir/numbers"
	chmod 0640 "$data/dir/numbers"
	sums > "$state/sums1"
	snapshot A r1
	A=$(cat "$state/A")
	impermanence-send --dry-run --target usb > "$out/send-dry-run.txt" 2>&1
	check r1.dry-run-full grep -q 'full' "$out/send-dry-run.txt"
	send r1 "$A" full 'full: no snapshot both sides hold'
	eq r1.target-holds "$(held)" "$A"
	check r1.target-record grep -q "$A" /var/lib/server-impermanence/targets/usb.json
	# the fstab line, the drop-in and the mountpoint into the blank
	# (docs/upgrades.md); the next boot is its trial
	check r1.commit impermanence-provision --commit
	impermanence-provision --list-blanks > "$out/blanks.txt" 2>&1
	;;
2)
	A=$(cat "$state/A")
	check r2.backup-mounted-from-fstab sh -c 'findmnt -n -o FSTYPE /mnt/backup | grep -qx btrfs'
	eq r2.timer-active "$(systemctl is-active server-impermanence-send@usb.timer)" active
	eq r2.timer-schedule "$(systemctl show -p TimersCalendar --value server-impermanence-send@usb.timer | sed -n 's/.*OnCalendar=\([^;]*\) ;.*/\1/p' | sed 's/ *$//')" "*-*-* 00:00:00"
	eq r2.target-holds-boot1 "$(held)" "$A"
	echo boot2 > "$data/note"
	dd if=/dev/urandom of="$data/blob2" bs=1M count=1 status=none
	sums > "$state/sums2"
	snapshot B r2
	B=$(cat "$state/B")
	send r2 "$B" incremental "incremental from $A, the newest snapshot both sides hold before it"
	eq r2.target-holds-both "$(held)" "$A $B"
	check r2.verify impermanence-send verify --target usb
	impermanence-send list --target usb > "$out/send-list.txt" 2>&1
	uuid "/.snapshots/@persist/$B" > "$state/B.uuid"
	# The damage, and the server loses its newest snapshot: the restore
	# must fetch it from the target (docs/replication.md, "Restoring from a
	# btrfs target").
	rm "$data/dir/numbers"
	echo damaged > "$data/note"
	echo junk > "$data/junk"
	check r2.lose-snapshot btrfs -q subvolume delete "/.snapshots/@persist/$B"
	impermanence-restore --dry-run --next-boot --from-target usb --from "$B" @persist > "$out/restore-dry-run.txt" 2>&1
	check r2.restore-dry-run grep -qF "would fetch @snapshots/@persist/$B from usb (incremental from $A," "$out/restore-dry-run.txt"
	check r2.dry-run-fetched-nothing test ! -e "/.snapshots/@persist/$B"
	check r2.restore sh -c "impermanence-restore --next-boot --from-target usb --from '$B' @persist > '$out/restore.txt' 2>&1"
	check r2.restore-fetched grep -qF "fetch @snapshots/@persist/$B from usb (incremental from $A," "$out/restore.txt"
	check r2.fetch-logged sh -c "journalctl -b -o cat | grep -qF 'fetched @snapshots/@persist/$B from usb (incremental from $A, which this server holds as @snapshots/@persist/$A'"
	eq r2.fetched-read-only "$(btrfs property get -ts "/.snapshots/@persist/$B" ro)" ro=true
	eq r2.fetched-received-uuid "$(received "/.snapshots/@persist/$B")" "$(cat "$state/B.uuid")"
	check r2.fetch-audited sh -c "grep '\"action\":\"restore-fetch\"' /var/log/server-impermanence/audit.jsonl | grep -q '\"result\":\"success\"'"
	check r2.stage-audited grep -q '"action":"restore-stage"' /var/log/server-impermanence/audit.jsonl
	check r2.staged grep -qF "stage the restore of @persist from" "$out/restore.txt"
	eq r2.still-damaged "$(cat "$data/note")" damaged
	;;
3)
	A=$(cat "$state/A") B=$(cat "$state/B")
	check r3.restore-done-logged sh -c "journalctl -b -o cat MESSAGE_ID=7001e805c9c540fea4166158149fbd9f | grep -qF 'staged restore of @persist from @snapshots/@persist/$B done'"
	check r3.restore-in-record grep -q '"restores"' "$out/rollback.json"
	check r3.restore-no-error sh -c "! grep -q '\"error\"' '$out/rollback.json'"
	sums > "$out/sums3"
	eq r3.persist-is-snapshot "$(cat "$out/sums3")" "$(cat "$state/sums2")"
	eq r3.boot1-data "$(grep -v ' ./note$' "$state/sums1" | grep -cvxFf "$out/sums3")" 0
	check r3.junk-gone test ! -e "$data/junk"
	pre=$(ls -1d /.snapshots/@persist/*-pre-restore 2>/dev/null)
	eq r3.pre-restore-snapshot "$(echo "$pre" | grep -c .)" 1
	eq r3.pre-restore-holds-damage "$(cat "$pre/vmtest-repl/note" 2>/dev/null)" damaged
	# the swap the initrd made is in the audit log, as --apply-requests writes it
	check r3.restore-audited sh -c "grep '\"action\":\"restore-staged\"' /var/log/server-impermanence/audit.jsonl | grep -q '\"job\":\"rollback\"'"
	check r3.backup-mounted sh -c 'findmnt -n -o FSTYPE /mnt/backup | grep -qx btrfs'
	# Replication goes on from the fetched snapshot: the next run sends the
	# pre-restore snapshot (a manual one) incremental from it, then the new
	# one; the target's keep_min = 3 then drops the boot-1 snapshot.
	snapshot C r3
	C=$(cat "$state/C") p=$(basename "$pre")
	send r3 "$C" incremental "incremental from $p, the newest snapshot both sides hold before it"
	check r3.send-pre-restore sh -c "journalctl -b -u $send_unit -o cat | grep -qF 'sent @persist/$p to usb: incremental from $B, the newest snapshot both sides hold before it'"
	check r3.target-retention sh -c "journalctl -b -u $send_unit -o cat | grep -qF 'deleted @persist/$A on usb (its retention)'"
	eq r3.target-holds "$(held)" "$B $p $C"
	check r3.verify impermanence-send verify --target usb
	;;
esac
eq r.failed-units-after "$(failed_units)" ""
held > "$out/target-persist.txt"
