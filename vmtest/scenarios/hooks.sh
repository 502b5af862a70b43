# Scenario 13: the hooks, one boot of a default install. A: the apt hooks
# of the Debian package (docs/upgrades.md, "The apt hooks"): apt-get
# installs and removes small local packages built here with dpkg-deb; then,
# unconfigured (config.toml moved aside), apt does the same with no snapshot
# and no notice. B: snapshot hooks (docs/operations.md, "Snapshot hooks"): a
# pre_snapshot and a post_snapshot hook on @var-lib-services as a user
# created here, through server-snapshots.service: a hook that succeeds, one
# that fails, one that hangs past its hook_timeout. C: failure notifications
# (docs/operations.md, "Failure notifications"): each failed run of the
# snapshot job runs [notify].command once with the unit, its result and its
# journal lines; a notify command that fails is logged and notified no
# further.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
export DEBIAN_FRONTEND=noninteractive
conf=/etc/server-impermanence/config.toml
snapshotted="@persist @var-log @var-lib-services @var-lib-caddy" # snapshot = true in the default layout

eq h0.failed-units "$(failed_units)" ""
# The scenario drives the snapshot job itself: no timer run in between.
systemctl stop server-snapshots.timer server-snapshots-cleanup.timer btrfs-maintenance.timer
settle() { # wait until UNIT is no longer running
	local i
	for i in $(seq 240); do
		case "$(systemctl show -p ActiveState --value "$1")" in
		activating|deactivating|reloading) sleep 0.5 ;;
		*) return 0 ;;
		esac
	done
	return 1
}
settle server-snapshots.service

# --- A: the apt hooks
# installed by the package, where apt reads them
check ha.apt-conf-from-package sh -c 'dpkg -S /etc/apt/apt.conf.d/80server-impermanence | grep -q "^server-impermanence:"'
check ha.apt-conf-is-conffile sh -c 'dpkg-query -W -f="\${Conffiles}\n" server-impermanence | grep -q " /etc/apt/apt.conf.d/80server-impermanence "'
check ha.apt-hooks-installed test -x /usr/lib/server-impermanence/apt-pre-invoke -a -x /usr/lib/server-impermanence/apt-post-invoke
check ha.apt-config-read sh -c 'apt-config dump | grep -qi "^DPkg::Pre-Invoke:: .*/usr/lib/server-impermanence/apt-pre-invoke" && apt-config dump | grep -qi "^DPkg::Post-Invoke:: .*/usr/lib/server-impermanence/apt-post-invoke"'
# mkdeb NAME [PREDEPENDS]: a tiny architecture-independent package in /root/debs
mkdeb() {
	local d=/root/debs/$1
	mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
	printf 'Package: %s\nVersion: 1.0\nArchitecture: all\nMaintainer: vmtest <root@localhost>\nDescription: vmtest package %s\n' "$1" "$1" > "$d/DEBIAN/control"
	[ -n "${2:-}" ] && printf 'Pre-Depends: %s\n' "$2" >> "$d/DEBIAN/control"
	echo "$1" > "$d/usr/share/$1/hello"
	dpkg-deb --root-owner-group -Zgzip --build "$d" "/root/debs/$1.deb" >/dev/null
}
# How often apt runs DPkg::Pre-Invoke per run (a figure: the package's hook
# must act once whatever it is); the harness's own line, after the package's.
echo 'DPkg::Pre-Invoke { "echo x >> /run/vmtest-pre-invoke"; };' > /etc/apt/apt.conf.d/99vmtest-count
mkdeb vmtest-base
mkdeb vmtest-app vmtest-base # apt runs dpkg for the pre-dependency first
mkdeb vmtest-other
check ha.debs-built test -s /root/debs/vmtest-base.deb -a -s /root/debs/vmtest-app.deb -a -s /root/debs/vmtest-other.deb
apts() { ls -1 "/.snapshots/$1" 2>/dev/null | grep -c '^[0-9]\{8\}T[0-9]\{6\}Z-apt$'; }
allsnaps() { ls -1 /.snapshots/* 2>/dev/null | grep -c '^[0-9]\{8\}T'; }
declare -A before
for s in $snapshotted; do before[$s]=$(apts "$s"); done
# apt-get RUN ARGS...: apt-get's output in $out/apt-RUN.txt, its exit in $rc
aptrun() {
	local n=$1; shift
	rc=0
	apt-get -y -o Dpkg::Use-Pty=0 "$@" > "$out/apt-$n.txt" 2>&1 || rc=$?
}
notices() { grep -c '^server-impermanence: these package changes are on the live root only' "$out/apt-$1.txt"; }
commits() { grep -c '^  impermanence-provision --commit$' "$out/apt-$1.txt"; }
t0=$(date +%s.%N)
aptrun install install /root/debs/vmtest-base.deb /root/debs/vmtest-app.deb
metric apt_install_seconds "$(awk "BEGIN{print $(date +%s.%N)-$t0}")"
eq ha.install-exit "$rc" 0
metric apt_install_pre_invokes "$(grep -c . /run/vmtest-pre-invoke)"
eq ha.install-installed "$(dpkg-query -W -f='${db:Status-Abbrev}' vmtest-app vmtest-base 2>&1)" "ii ii "
for s in $snapshotted; do
	eq "ha.install-snapshot-$s" "$(( $(apts "$s") - before[$s] ))" 1
done
check ha.install-not-@nix test ! -e /.snapshots/@nix
eq ha.install-pre-notice "$(grep -c '^server-impermanence: 4 snapshot(s) labelled apt before this package change' "$out/apt-install.txt")" 1
eq ha.install-notice-once "$(notices install)" 1
eq ha.install-commit-command "$(commits install)" 1
# the snapshot: read-only, its sidecar labelled apt and expiring 7 days after it
snap=$(ls -1 /.snapshots/@persist | grep -- '-apt$' | sort | tail -n1)
eq ha.apt-snapshot-readonly "$(btrfs property get -ts "/.snapshots/@persist/$snap" ro 2>&1)" ro=true
side=/.snapshots/@persist/.$snap.json
eq ha.apt-sidecar-label "$(json_field label "$side")" apt
eq ha.apt-sidecar-expires-7d "$(( $(date -d "$(json_field expires "$side")" +%s) - $(date -d "$(json_field created "$side")" +%s) ))" 604800
impermanence-snapshot list --json @persist > "$out/list-apt.json" 2>&1
check ha.apt-listed-labelled grep -q "\"label\": *\"apt\"" "$out/list-apt.json"
for s in $snapshotted; do before[$s]=$(apts "$s"); done
aptrun remove remove vmtest-app vmtest-base
eq ha.remove-exit "$rc" 0
check ha.remove-removed sh -c '! dpkg -s vmtest-app vmtest-base 2>/dev/null | grep -q "^Status: install ok installed"'
n=0; for s in $snapshotted; do n=$(( n + $(apts "$s") - before[$s] )); done
eq ha.remove-snapshots "$n" 4
eq ha.remove-notice-once "$(notices remove)" 1
eq ha.remove-commit-command "$(commits remove)" 1
rm -f /etc/apt/apt.conf.d/99vmtest-count
# unconfigured: no config.toml (docs/upgrades.md: the hooks do nothing and print nothing)
mv "$conf" "$conf.vmtest-aside"
total=$(allsnaps)
aptrun unconf-install install /root/debs/vmtest-other.deb
eq ha.unconfigured-install-exit "$rc" 0
eq ha.unconfigured-installed "$(dpkg-query -W -f='${db:Status-Abbrev}' vmtest-other 2>&1)" "ii "
aptrun unconf-remove remove vmtest-other
eq ha.unconfigured-remove-exit "$rc" 0
eq ha.unconfigured-no-snapshot "$(allsnaps)" "$total"
eq ha.unconfigured-silent "$(cat "$out/apt-unconf-install.txt" "$out/apt-unconf-remove.txt" | grep -c 'server-impermanence')" 0
mv "$conf.vmtest-aside" "$conf"

# --- B and C: snapshot hooks and failure notifications
systemd-sysusers --inline 'u vmhook - "vmtest hook user" /nonexistent /usr/sbin/nologin'
check hb.user-created id -u vmhook
# The hook writes into /etc, which the snapshot job's sandbox (ProtectSystem=full)
# has read-only: a record there is a hook run outside the sandbox.
rec=/etc/vmtest-hooks
install -d -o vmhook -m 0755 $rec
echo ok > $rec/mode
cat > /usr/local/sbin/vmtest-hook <<'EOF'
#!/bin/sh
# pre and post hook: one record per run, then what $rec/mode says
r=/etc/vmtest-hooks/$IMPERMANENCE_HOOK.$(date +%s%N)
{
	echo "user=$(id -un)"
	echo "subvolume=$IMPERMANENCE_SUBVOLUME"
	echo "snapshot=$IMPERMANENCE_SNAPSHOT"
	echo "path=$IMPERMANENCE_SNAPSHOT_PATH"
	echo "netns=$(readlink /proc/self/ns/net)"
	echo "cgroup=$(grep '^0::' /proc/self/cgroup | cut -d: -f3)"
} > "$r"
[ "$IMPERMANENCE_HOOK" = post ] && exit 0
case $(cat /etc/vmtest-hooks/mode) in
fail) echo "vmtest pre-hook failing on purpose" >&2; exit 3 ;;
hang) sleep 60 ;;
esac
exit 0
EOF
cat > /usr/local/sbin/vmtest-notify <<'EOF'
#!/bin/sh
# [notify].command: one directory per run with what it was given
d=/var/lib/vmtest-notify/$(date +%s%N)
mkdir -p "$d"
printf '%s\n' "$IMPERMANENCE_UNIT" > "$d/unit"
printf '%s\n' "$IMPERMANENCE_RESULT" > "$d/result"
printf '%s\n' "$IMPERMANENCE_INVOCATION_ID" > "$d/invocation"
printf '%s\n' "$IMPERMANENCE_HOST" > "$d/host"
printf '%s\n' "$IMPERMANENCE_JOURNAL" > "$d/journal"
cat > "$d/stdin"
if [ "${1:-}" = fail ]; then echo "vmtest notify failing on purpose" >&2; exit 7; fi
exit 0
EOF
chmod 0755 /usr/local/sbin/vmtest-hook /usr/local/sbin/vmtest-notify
dropin=/etc/server-impermanence/config.d/50-vmtest-hooks.toml
hookconf() { # hookconf [NOTIFY-ARG]: the drop-in, then what an operator runs after a change
	mkdir -p "${dropin%/*}"
	cat > $dropin <<EOF
[[subvolume]]
name          = "@var-lib-services"
pre_snapshot  = ["/usr/local/sbin/vmtest-hook"]
post_snapshot = ["/usr/local/sbin/vmtest-hook"]
hook_user     = "vmhook"
hook_timeout  = "4s"

[notify]
command       = ["/usr/local/sbin/vmtest-notify"${1:+, \"$1\"}]
timeout       = "10s"
journal_lines = 20
EOF
	server-impermanence-generator --check > "$out/check-hooks$1.txt" 2>&1 && systemctl daemon-reload
}
check hb.config-check hookconf
# the generator's drop-in: 30 s plus each hook's timeout plus 15 s
eq hb.job-timeout-raised "$(systemctl show -p TimeoutStartUSec --value server-snapshots.service)" "1min 8s"
check hc.failure-wants-notify sh -c "systemctl show -p Wants --value server-impermanence-failure@server-snapshots.service.service | grep -qw 'server-impermanence-notify@server-snapshots.service.service'"
svc=/.snapshots/@var-lib-services
tl() { ls -1 "/.snapshots/$1" | grep -c '^[0-9]\{8\}T[0-9]\{6\}Z$'; }
runs() { ls -1 $rec | grep -c "^$1\."; }
notified() { ls -1 /var/lib/vmtest-notify 2>/dev/null | grep -c .; }
newest_notify() { ls -1d /var/lib/vmtest-notify/* | sort | tail -n1; }
unit_of() { echo "server-impermanence-hook-$1-$(systemd-escape --path /@var-lib-services).service"; }
wait_notified() { # wait_notified N: until N notifications ran and the notify unit is done
	local i
	for i in $(seq 120); do [ "$(notified)" -ge "$1" ] && break; sleep 0.5; done
	settle server-impermanence-failure@server-snapshots.service.service
	settle server-impermanence-notify@server-snapshots.service.service
	sleep 2 # anything a failure would start in turn
}
startjob() { # startjob: server-snapshots.service once, a new second, its elapsed seconds in $took
	sleep 1
	local t0; t0=$(date +%s.%N)
	systemctl start server-snapshots.service >/dev/null 2>&1; jobrc=$?
	took=$(awk "BEGIN{print $(date +%s.%N)-$t0}")
}

# B1: hooks that succeed
v0=$(tl @var-lib-services); p0=$(tl @persist)
startjob
eq hb.ok-job-succeeded "$jobrc" 0
eq hb.ok-snapshot-taken "$(( $(tl @var-lib-services) - v0 ))" 1
eq hb.ok-others-taken "$(( $(tl @persist) - p0 ))" 1
eq hb.ok-pre-ran-once "$(runs pre)" 1
eq hb.ok-post-ran-once "$(runs post)" 1
pre=$(ls -1 $rec/pre.* | head -n1); post=$(ls -1 $rec/post.* | head -n1)
name=$(ls -1 $svc | grep '^[0-9]\{8\}T[0-9]\{6\}Z$' | sort | tail -n1)
eq hb.ok-pre-user "$(sed -n 's/^user=//p' "$pre")" vmhook
eq hb.ok-post-user "$(sed -n 's/^user=//p' "$post")" vmhook
eq hb.ok-env-subvolume "$(sed -n 's/^subvolume=//p' "$pre")" @var-lib-services
eq hb.ok-env-snapshot "$(sed -n 's/^snapshot=//p' "$pre")" "$name"
eq hb.ok-env-path "$(sed -n 's/^path=//p' "$pre")" "@snapshots/@var-lib-services/$name"
eq hb.ok-post-same-snapshot "$(sed -n 's/^snapshot=//p' "$post")" "$name"
# its own transient unit, in the host's network namespace (the job has PrivateNetwork=)
eq hb.ok-pre-unit "$(sed -n 's/^cgroup=//p' "$pre")" "/system.slice/$(unit_of pre)"
eq hb.ok-post-unit "$(sed -n 's/^cgroup=//p' "$post")" "/system.slice/$(unit_of post)"
eq hb.ok-host-netns "$(sed -n 's/^netns=//p' "$pre")" "$(readlink /proc/1/ns/net)"
eq hb.ok-unit-collected "$(systemctl show -p LoadState --value "$(unit_of pre)")" not-found
check hb.ok-logged sh -c "journalctl -b -u server-snapshots.service -o cat | grep -q 'pre_snapshot hook of @var-lib-services succeeded'"
eq hc.ok-not-notified "$(notified)" 0

# B2: a pre-hook that fails: the snapshot skipped, post runs, the run fails
echo fail > $rec/mode
v0=$(tl @var-lib-services); p0=$(tl @persist)
startjob
check hb.fail-job-failed test "$jobrc" -ne 0
eq hb.fail-unit-failed "$(systemctl is-failed server-snapshots.service)" failed
eq hb.fail-snapshot-skipped "$(( $(tl @var-lib-services) - v0 ))" 0
eq hb.fail-others-taken "$(( $(tl @persist) - p0 ))" 1
eq hb.fail-pre-ran "$(runs pre)" 2
eq hb.fail-post-ran "$(runs post)" 2
eq hb.fail-record "$(json_field pre_hook_failed /var/lib/server-impermanence/snapshot.json)" 1
journalctl -b -u server-snapshots.service -o cat > "$out/job-journal.txt"
check hb.fail-journal-skipped grep -q '^SKIPPED @snapshots/@var-lib-services/.*pre_snapshot hook exit-code: snapshot skipped' "$out/job-journal.txt"
check hb.fail-journal-hook grep -q 'hook failed for @var-lib-services: pre_snapshot hook /usr/local/sbin/vmtest-hook: exit-code (exit status 3)' "$out/job-journal.txt"
check hb.fail-hook-own-journal sh -c "journalctl -b -u '$(unit_of pre)' -o cat | grep -q 'vmtest pre-hook failing on purpose'"
scrape_body > "$out/scrape-fail.txt" 2>&1
eq hb.fail-metric "$(grep '^impermanence_job_last_value{' "$out/scrape-fail.txt" | grep 'job_name="snapshot"' | grep 'key="pre_hook_failed"' | awk '{print $2}')" 1
# C1: the failure notified once, with the unit, its result and its journal lines
wait_notified 1
eq hc.fail-notified-once "$(notified)" 1
n1=$(newest_notify)
eq hc.fail-unit "$(cat "$n1/unit")" server-snapshots.service
eq hc.fail-result "$(cat "$n1/result")" exit-code
eq hc.fail-invocation "$(cat "$n1/invocation")" "$(systemctl show -p InvocationID --value server-snapshots.service)"
eq hc.fail-host "$(cat "$n1/host")" vmtest
check hc.fail-journal-lines grep -q 'hook failed for @var-lib-services' "$n1/journal"
check hc.fail-journal-bounded test "$(grep -c . "$n1/journal")" -le 20
check hc.fail-message grep -q 'server-snapshots.service' "$n1/stdin"
eq hc.fail-delivered-logged "$(journalctl -b -o cat MESSAGE_ID=4d61ec5d97fe4f1d94763d4e68a9385f | grep -c .)" 1

# B3: a pre-hook that hangs: stopped at hook_timeout (4 s), the snapshot skipped
echo hang > $rec/mode
v0=$(tl @var-lib-services)
startjob
metric hang_job_seconds "$took"
check hb.hang-job-failed test "$jobrc" -ne 0
check hb.hang-stopped-at-timeout awk "BEGIN{exit !($took < 30)}"
eq hb.hang-snapshot-skipped "$(( $(tl @var-lib-services) - v0 ))" 0
eq hb.hang-pre-ran "$(runs pre)" 3
eq hb.hang-post-ran "$(runs post)" 3
check hb.hang-journal-timeout sh -c "journalctl -b -u server-snapshots.service -o cat | grep -q 'hook failed for @var-lib-services: pre_snapshot hook /usr/local/sbin/vmtest-hook: timeout'"
eq hb.hang-record "$(json_field pre_hook_failed /var/lib/server-impermanence/snapshot.json)" 1
wait_notified 2
eq hc.hang-notified-once-more "$(notified)" 2
eq hc.hang-result "$(cat "$(newest_notify)/result")" exit-code

# C2: a notify command that fails: logged, the notify unit failed, no loop
check hc.failing-config-check hookconf fail
echo fail > $rec/mode
startjob
check hc.failing-job-failed test "$jobrc" -ne 0
wait_notified 3
eq hc.failing-ran-once "$(notified)" 3
eq hc.failing-notify-unit-failed "$(systemctl is-failed server-impermanence-notify@server-snapshots.service.service)" failed
eq hc.failing-logged "$(journalctl -b -o cat MESSAGE_ID=ac30466493be43c69312ef70aed7c4f6 | grep -c .)" 1
# the command's output is a field of that entry
check hc.failing-output-logged sh -c "journalctl -b -o export MESSAGE_ID=ac30466493be43c69312ef70aed7c4f6 | grep -q 'vmtest notify failing on purpose'"
# one failure handler run and one notification per failed job run (three),
# none for the failed notify unit
eq hc.failure-handler-runs "$(journalctl -b -o cat -u server-impermanence-failure@server-snapshots.service.service | grep -c 'server-snapshots.service failed: see')" 3
eq hc.failure-handler-starts "$(journalctl -b -o cat _PID=1 | grep -c '^Starting server-impermanence-failure@')" 3
eq hc.notify-unit-starts "$(journalctl -b -o cat _PID=1 | grep -c '^Starting server-impermanence-notify@')" 3
eq hc.no-loop "$(journalctl -b -o cat | grep -c 'server-impermanence-failure@server-impermanence-notify')" 0
eq hc.failing-delivered-unchanged "$(journalctl -b -o cat MESSAGE_ID=4d61ec5d97fe4f1d94763d4e68a9385f | grep -c .)" 2

# back to a healthy job: hooks and notify removed, failed units reset
rm -f $dropin
systemctl daemon-reload
systemctl reset-failed
startjob
eq h9.job-healthy-again "$jobrc" 0
eq h9.failed-units "$(failed_units)" ""
