# Scenarios 4 (invalid configuration, boot 2 with an initrd whose config is
# invalid and the same drop-in in the root) and 5 (emergency switch,
# boot 3 with server-impermanence.rollback=0), then boot 4 is normal again.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
marker=$(cat /vmtest-marker 2>/dev/null)
case $b in
1)
	check s4.boot1-setup-succeeded setup_ok
	mkdir -p /etc/server-impermanence/config.d
	printf 'mode = "vmtest-invalid"\n' > /etc/server-impermanence/config.d/99-vmtest-invalid.toml
	;;
2)
	eq s4.root-not-rolled-back "$marker" boot1
	eq s4.multi-user-reached "$(systemctl is-active multi-user.target)" active
	eq s4.config-error-failed "$(systemctl is-failed server-impermanence-config-error.service)" failed
	check s4.no-setup-in-initrd sh -c '! journalctl -b -o cat -u server-impermanence-setup.service | grep -q "^Starting"'
	check s4.config-invalid-logged sh -c 'journalctl -b MESSAGE_ID=6a6b271752de419b92150800d65c7f52 -o cat | grep -q .'
	eq s4.failed-units "$(failed_units)" "server-impermanence-config-error.service"
	systemctl start server-impermanence-exporter.service
	scrape > "$out/scrape.txt" 2>&1
	eq s4.metric-config-invalid "$(grep '^impermanence_config_valid ' "$out/scrape.txt" | awk '{print $2}')" 0
	rm -f /etc/server-impermanence/config.d/99-vmtest-invalid.toml
	;;
3)
	eq s5.root-not-rolled-back "$marker" boot2
	check s5.skip-logged sh -c 'journalctl -b MESSAGE_ID=bc23e08778034bee96c89554b67280ac -o cat | grep -q .'
	journalctl -b MESSAGE_ID=bc23e08778034bee96c89554b67280ac -o cat > "$out/skip.txt"
	eq s5.failed-units "$(failed_units)" ""
	;;
4)
	check s5.next-boot-rolls-back test ! -e /vmtest-marker
	check s5.next-boot-setup-succeeded setup_ok
	eq s5.failed-units-boot4 "$(failed_units)" ""
	;;
esac
echo "boot$b" > /vmtest-marker
