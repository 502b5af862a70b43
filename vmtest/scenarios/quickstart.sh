# Scenario 9: docs/quickstart.md on a plain Debian system, as the Debian
# installer leaves a btrfs root (the system in @rootfs, fstab naming
# subvol=@rootfs, a dracut initrd without this project). The host boots the
# kernel with the initrd it finds in @rootfs/boot, as GRUB would.
#   boot 1: steps 1-5 of the page, in its order, each with the page's check
#   boot 2: the first reboot (step 6 checks), then the canary files
#   boot 3: the canary on the root is gone and archived, the one in /var/log
#           stays; then section 7: an upgrade and the blank re-captured
#   boot 4: the upgrade is in the new blank, what came after it is gone
# Every command below is the page's, in the page's order; the only addition is
# /etc/dracut.conf.d/50-vmtest.conf (hostonly, uncompressed: dracut is slow
# under software emulation).
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
kver=$(uname -r)
case $b in
1)
	# Before you start
	eq q0.root-is-@rootfs "$(findmnt -no FSTYPE,SOURCE / | sed 's/^\([a-z]*\) .*\[\(.*\)\]$/\1 \2/')" "btrfs /@rootfs"
	# 1. Install (dracut and btrfs-progs are in the image: no network)
	check q1.dpkg-install dpkg -i "$VMTEST_DIR/server-impermanence.deb"
	check q1.version server-impermanence-generator --version
	check q1.setup-unit systemctl cat server-impermanence-setup.service
	eq q1.no-timers-without-config "$(systemctl list-timers --all --no-legend 'server-*' 'btrfs-*' | grep -c .)" 0
	# 2. Write the configuration
	install -d -m 0755 /etc/server-impermanence
	check q2.copy-example cp /usr/share/doc/server-impermanence/examples/config.toml /etc/server-impermanence/config.toml
	uuid=$(findmnt -no UUID /)
	sed -i -e "s|^device *=.*|device = \"/dev/disk/by-uuid/$uuid\"|" \
		-e 's|^name\( *\)= "@root"$|name\1= "@rootfs"|' \
		-e 's|^blank\( *\)= "@root-blank"$|blank\1= "@rootfs-blank"|' /etc/server-impermanence/config.toml
	cp /etc/server-impermanence/config.toml "$out/config.toml"
	server-impermanence-generator --check > "$out/check.txt" 2>&1
	eq q2.check-exit $? 0
	check q2.check-root-is-device grep -q 'the configured device is one of its devices' "$out/check.txt"
	# 3. The initrd (before the blank: the blank carries /boot)
	printf 'hostonly="yes"\ncompress="cat"\n' > /etc/dracut.conf.d/50-vmtest.conf
	t0=$(date +%s)
	check q3.dracut dracut -f "/boot/initrd.img-$kver" "$kver"
	metric dracut_seconds $(( $(date +%s) - t0 ))
	lsinitrd "/boot/initrd.img-$kver" > "$out/lsinitrd.txt" 2>&1
	check q3.module-in-initrd grep -q 'impermanence-rollback' "$out/lsinitrd.txt"
	check q3.config-in-initrd grep -q 'etc/server-impermanence/config.toml' "$out/lsinitrd.txt"
	# 4. Provision the subvolumes and capture the blank
	check q4.provision-dry-run impermanence-provision --dry-run
	check q4.provision impermanence-provision --blank-from @rootfs
	impermanence-provision > "$out/provision-again.txt" 2>&1
	eq q4.provision-again-exit $? 0
	mkdir -p /mnt/top && mount -o subvolid=5 "/dev/disk/by-uuid/$uuid" /mnt/top
	btrfs subvolume list -o /mnt/top > "$out/subvolumes.txt"
	eq q4.blank-ro "$(btrfs property get -ts /mnt/top/@rootfs-blank ro)" ro=true
	# 5. Fill the permanent subvolumes and the persist subvolume
	check q5.var-log cp -a --reflink=always /var/log/. /mnt/top/@var-log/
	mkdir -p /mnt/top/@persist/etc /mnt/top/@persist/var/lib/systemd
	check q5.persist-etc cp -a --reflink=always /etc/ssh /etc/machine-id /mnt/top/@persist/etc/
	check q5.persist-timers sh -c 'test ! -d /var/lib/systemd/timers || cp -a --reflink=always /var/lib/systemd/timers /mnt/top/@persist/var/lib/systemd/'
	umount /mnt/top
	impermanence-diff > "$out/diff.txt" 2>&1
	eq q5.diff-exit $? 0
	check q5.diff-lists-new-dir grep -q '/mnt/top' "$out/diff.txt"
	cat /etc/machine-id > "$state/machine-id"
	;;
2)
	# 6. First reboot
	check q6.setup-succeeded setup_ok
	eq q6.rollback-result "$(json_field result /run/server-impermanence/rollback.json)" success
	eq q6.root-source "$(findmnt -no SOURCE / | sed 's/.*\[\(.*\)\]$/\1/')" /@rootfs
	check q6.root-compress sh -c 'findmnt -no OPTIONS / | grep -q compress=zstd:1'
	eq q6.var-log-subvolume "$(findmnt -no SOURCE /var/log | sed 's/.*\[\(.*\)\]$/\1/')" /@var-log
	check q6.etc-ssh-bind findmnt -n /etc/ssh
	eq q6.machine-id-kept "$(cat /etc/machine-id)" "$(cat "$state/machine-id")"
	eq q6.failed-units "$(failed_units)" ""
	systemctl list-timers --all --no-pager 'server-*' 'btrfs-*' > "$out/timers.txt"
	eq q6.timers "$(grep -cE ' (server-snapshots|server-snapshots-cleanup|btrfs-maintenance)\.timer ' "$out/timers.txt")" 3
	scrape > "$out/scrape.txt" 2>&1
	check q6.exporter-job-results grep -q '^impermanence_job_last_result' "$out/scrape.txt"
	# q6.lived-in-root-archived: checked by the host after power-off
	touch /root/canary /var/log/canary
	;;
3)
	check q6.setup-succeeded setup_ok
	check q7.root-canary-gone test ! -e /root/canary
	check q7.var-log-canary-kept test -e /var/log/canary
	# q7.canary-archived-once: checked by the host after power-off
	check q7.snapshots-service systemctl start server-snapshots.service
	impermanence-snapshot list > "$out/snapshot-list.txt" 2>&1
	check q7.snapshot-list grep -q '@persist' "$out/snapshot-list.txt"
	eq q7.failed-units "$(failed_units)" ""
	# 7. Afterwards: an upgrade (no new kernel, so no dracut), then the blank
	# re-captured from the live root; a file written after it must go.
	echo upgraded > /usr/local/lib/vmtest-upgrade
	check q7.replace-blank impermanence-provision --blank-from @rootfs --replace-blank
	# q7.one-blank, q7.blank-history, q7.blank-ro: checked by the host after power-off
	impermanence-diff > "$out/diff-after-recapture.txt" 2>&1
	eq q7.diff-after-recapture-exit $? 0
	touch /root/canary2
	;;
4)
	check q7.setup-succeeded setup_ok
	eq q7.upgrade-kept "$(cat /usr/local/lib/vmtest-upgrade 2>/dev/null)" upgraded
	check q7.canary2-gone test ! -e /root/canary2
	lsinitrd "/boot/initrd.img-$kver" > "$out/lsinitrd.txt" 2>&1
	check q7.blank-initrd-has-module grep -q 'impermanence-rollback' "$out/lsinitrd.txt"
	eq q7.failed-units-after "$(failed_units)" ""
	;;
esac
