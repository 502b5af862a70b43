# Scenario 6: the host cuts the power during the initrd rollback (even boots
# are killed from the serial console); each following boot must recover.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
top
if [ "$b" -gt 1 ]; then
	check s6.root-clean test ! -e /vmtest-marker
	check s6.setup-succeeded setup_ok
	eq s6.failed-units "$(failed_units)" ""
	eq s6.persist-intact "$(cat /persist/vmtest-boots)" "$(cat "$state/persist")"
	# the state written before the cut is archived exactly once
	eq s6.previous-root-archived-once "$(grep -lx "boot$(cat "$state/last")" /run/vmtest-top/old_roots/@root/*/vmtest-marker 2>/dev/null | grep -c .)" 1
	check s6.no-half-roots sh -c '! ls -d /run/vmtest-top/*.new 2>/dev/null | grep -q .'
	eq s6.archives-not-nested "$(find /run/vmtest-top/old_roots/@root -mindepth 2 -maxdepth 3 -name old_roots | grep -c .)" 0
fi
echo "boot$b" > /vmtest-marker
echo "$b" > "$state/last"
echo -n "$(cat /persist/vmtest-boots 2>/dev/null) $b" | sed 's/^ //' > /persist/vmtest-boots.tmp && mv /persist/vmtest-boots.tmp /persist/vmtest-boots
cat /persist/vmtest-boots > "$state/persist"
sync
