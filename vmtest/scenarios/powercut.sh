# Scenario 6: the host cuts the power during the initrd rollback (even boots
# are killed from the serial console); each following boot must recover.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
if [ "$b" -gt 1 ]; then
	check s6.root-clean test ! -e /vmtest-marker
	check s6.setup-succeeded setup_ok
	eq s6.failed-units "$(failed_units)" ""
	eq s6.persist-intact "$(cat /persist/vmtest-boots)" "$(cat "$state/persist")"
	# s6.previous-root-archived-once, s6.no-half-roots, s6.archives-not-nested:
	# checked by the host after power-off
fi
echo "boot$b" > /vmtest-marker
echo -n "$(cat /persist/vmtest-boots 2>/dev/null) $b" | sed 's/^ //' > /persist/vmtest-boots.tmp && mv /persist/vmtest-boots.tmp /persist/vmtest-boots
cat /persist/vmtest-boots > "$state/persist"
sync
