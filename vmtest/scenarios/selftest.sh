# The harness's own test: the first attempt of boot 1 crashed in the guest
# kernel (the host's doing); this is the retry, a normal boot.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
check h.setup-succeeded setup_ok
eq h.failed-units "$(failed_units)" ""
