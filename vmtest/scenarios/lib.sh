# Sourced by every scenario (cwd: the vmtest disk). Checks go to
# $VMTEST_OUT/checks as "PASS name" / "FAIL name: why", figures to
# $VMTEST_OUT/metrics as "key value"; the host test reads both.
out=$VMTEST_OUT
state=$VMTEST_DIR/state
mkdir -p "$state"
b=$VMTEST_BOOT
pass() { echo "PASS $*" >> "$out/checks"; }
fail() { echo "FAIL $*" >> "$out/checks"; }
# check NAME CMD...: the command succeeds.
check() { local n=$1; shift; if "$@" >> "$out/log.cmd" 2>&1; then pass "$n"; else fail "$n: '$*' failed"; fi; }
# eq NAME GOT WANT
eq() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi; }
metric() { echo "$1 $2" >> "$out/metrics"; }
# Failed units of this boot, space separated. No exemptions: the generator
# masks systemd-machine-id-commit.service when /etc/machine-id is persisted
# (it used to fail on the bind mount), so any failed unit is a failure.
failed_units() {
	systemctl --failed --no-legend --plain | awk '{print $1}' | sort | tr '\n' ' ' | sed 's/ $//'
}
json_field() { grep -o "\"$1\": *[^,}]*" "$2" | head -1 | sed 's/^[^:]*: *//; s/"//g'; }
# Records this boot's rollback (duration measured by the helper in the initrd).
rollback_record() {
	local f=/run/server-impermanence/rollback.json
	if [ -r $f ]; then
		cp $f "$out/rollback.json"
		metric rollback_seconds "$(json_field duration $f)"
		metric rollback_result "$(json_field result $f)"
	else
		metric rollback_result none
	fi
}
# The harness never mounts the top level in the guest: what needs it (the
# archives, the blank) is checked by the host after power-off, so every
# scenario sees the mounts of a default install and nothing more.
scrape() { # GET /metrics from the exporter on loopback (bash /dev/tcp, no curl)
	exec 3<>/dev/tcp/127.0.0.1/9857 || return 1
	printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	cat <&3; exec 3<&-
}
scrape_body() { scrape | sed '1,/^\r\{0,1\}$/d'; } # without the HTTP header
setup_ok() { # the initrd unit finished (journal of this boot)
	journalctl -b -o cat -u server-impermanence-setup.service | grep -q '^Finished server-impermanence-setup.service' &&
		! journalctl -b -o cat -u server-impermanence-setup.service | grep -q '^Failed to start'
}
