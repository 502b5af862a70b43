# bench-send-ssh.sh: the SSH rows of the send group (ROWS=send-ssh, make
# bench-send-ssh, runs only these). Sourced by scripts/bench-send.sh, whose
# fixture ($src, $dst, $P, $S, $BS, scfg, send_svs, keep, unrecv) and
# scripts/bench.sh's pair, cleanup_hooks and PAIR_CPU it uses; defines
# ssh_parents (the untimed parents, before S is snapshotted) and ssh_rows.
#
# The backup host is a throwaway OpenSSH sshd on 127.0.0.1 in a network
# namespace of its own (unshare -n, lo up), with throwaway host and client
# keys. Ours has a key per target (a target's URL is its own, and the key
# decides the root), each with the forced-command line exactly as
# docs/replication.md gives it (with the built impermanence-receive and a
# root of its own: ssh-full and ssh-zstd on the target filesystem, next to
# the references' copies, ssh-inc on a filesystem of its own, see below);
# the references' key is a plain line (root's shell, as the operator of
# the pipeline or of btrbk has it). Every ssh of either side goes through a
# wrapper first in PATH that enters the namespace and names the throwaway
# known_hosts (ssh -F); nothing in it changes the transport (cipher and
# compression are ssh's defaults unless SSH_CIPHERS= is set).
#   send-ssh-full        full send of @bulk (SEND_MB MiB), against
#                        btrfs send S | ssh H btrfs receive D
#   send-ssh-full-btrbk  the same, against btrbk --preserve resume to an
#                        ssh:// target
#   send-ssh-zstd        ours with compress = "zstd", against btrbk's own
#                        pipeline for stream_compress zstd: btrfs send S |
#                        zstd -c | ssh -o compression=no H 'zstd -d -c |
#                        btrfs receive D'
#   send-ssh-zstd-btrbk  the same, against btrbk with stream_compress zstd
#   send-ssh-inc         the 7 incrementals (P -> S), against 7 pipelines.
#                        Ours' root is on a third loop btrfs (bk): btrfs
#                        receive finds an incremental's parent by its
#                        received UUID, and the target filesystem holds
#                        copies of P from the local rows; the receiver
#                        refuses a stream applied to one outside its root.
#   send-ssh-cipher      (only when SSH_ROWS names it) ours' full send with
#                        Ciphers ^aes128-gcm@openssh.com in the client
#                        configuration (AES-GCM first) against ours with
#                        ssh's default order: what the cipher costs, both
#                        sides ours.
# SSH_ROWS="full full-btrbk zstd zstd-btrbk inc" picks these rows (the
# names after send-ssh-). SSH_CIPHERS= (empty: ssh's default order) puts a
# Ciphers line into the client configuration of every side, e.g.
# SSH_CIPHERS=aes128-gcm@openssh.com.
#
# CPU: sshd is started in a cgroup v2 of its own, and every timed run of
# either side moves itself into it first, so that cgroup's usage_usec
# (cpu.stat) before and after a run is the user + system time of every
# process of that side: the client, ssh, zstd, btrfs, sshd's session and
# what it runs (impermanence-receive, btrfs receive). Kernel threads
# (writeback, checksums, the loop devices' I/O) are in neither side's.
# On exit sshd and anything left in the cgroup are killed (the namespace
# goes with its last process) and the cgroup removed.
sshw=$work/ssh
sshd_pid="" ssh_cg="" roothome=/nonexistent
ssh_cleanup() {
	local p i
	if [ -n "$sshd_pid" ]; then kill "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null; fi
	! mountpoint -q "$roothome/.bashrc" 2>/dev/null || umount "$roothome/.bashrc"
	[ -n "$ssh_cg" ] && [ -d "$ssh_cg" ] || return 0
	for i in $(seq 50); do
		[ -n "$(cat "$ssh_cg/cgroup.procs")" ] || break # (cgroup files have no size)
		while read -r p; do kill -9 "$p" 2>/dev/null; done < "$ssh_cg/cgroup.procs"
		sleep 0.1
	done
	rmdir "$ssh_cg"
}
cleanup_hooks+=(ssh_cleanup)

echo "bench: send: sshd on 127.0.0.1 in a network namespace of its own" >&2
mkdir -m 0700 "$sshw" "$sshw/bin"
for k in host ref ssh-full ssh-zstd ssh-inc; do ssh-keygen -q -t ed25519 -N '' -C bench -f "$sshw/$k"; done
docline='restrict,command="impermanence-receive --root /srv/backup/web1" ssh-ed25519 AAAA… root@web1'
grep -qxF "$docline" docs/replication.md || { echo "bench: docs/replication.md has no line $docline: the SSH rows use it as the authorized_keys line" >&2; exit 1; }
mk_loop_fs bk 4G
declare -A ssh_root=([ssh-full]=$dst/ssh-full [ssh-zstd]=$dst/ssh-zstd [ssh-inc]=$work/bk/ssh-inc)
for k in ssh-full ssh-zstd ssh-inc; do
	line=${docline/"impermanence-receive --root /srv/backup/web1"/"$bin/impermanence-receive --root ${ssh_root[$k]}"}
	printf '%s\n' "${line/"ssh-ed25519 AAAA… root@web1"/"$(cat "$sshw/$k.pub")"}"
	mkdir -p "${ssh_root[$k]}"
done > "$sshw/authorized_keys"
cat "$sshw/ref.pub" >> "$sshw/authorized_keys"
printf '%s\n' "ListenAddress 127.0.0.1" "Port 22" "HostKey $sshw/host" "PidFile none" \
	"AuthorizedKeysFile $sshw/authorized_keys" "StrictModes no" "PermitRootLogin prohibit-password" \
	"PasswordAuthentication no" "KbdInteractiveAuthentication no" "UsePAM no" \
	"AuthenticationMethods publickey" "LogLevel ERROR" "MaxStartups 100" "MaxSessions 100" > "$sshw/sshd_config"
printf '127.0.0.1 %s\n' "$(cat "$sshw/host.pub")" > "$sshw/known_hosts"
printf '%s\n' "Host *" "  UserKnownHostsFile $sshw/known_hosts" "  GlobalKnownHostsFile /dev/null" \
	"  StrictHostKeyChecking yes" "  IdentitiesOnly yes" "  LogLevel ERROR" \
	${SSH_CIPHERS:+"  Ciphers $SSH_CIPHERS"} > "$sshw/config"
# sshd runs every request (ours' forced command, the references' commands)
# through root's shell, and Debian's bash sources ~/.bashrc for a command
# from sshd: a development machine's (pyenv and the like: 170 processes and
# 0.15 s of CPU per request here) is hidden in the bench's mount namespace,
# as a backup host has none of that.
roothome=$(getent passwd root | cut -d: -f6)
if [ -f "$roothome/.bashrc" ]; then mount --bind /dev/null "$roothome/.bashrc"; fi
mkdir -p /run/sshd "$dst/ssh-btrbk"
cg2=$(findmnt -n -t cgroup2 -o TARGET | head -1)
if [ -n "$cg2" ]; then
	ssh_cg=$cg2/server-impermanence-bench-ssh.$$
	mkdir "$ssh_cg"
else
	echo "bench: no cgroup v2 mounted: the SSH rows without CPU time" >&2
fi
unshare -n sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; ip link set lo up && exec /usr/sbin/sshd -D -e -f "$2"' sh "$ssh_cg" "$sshw/sshd_config" 2> "$sshw/sshd.log" &
sshd_pid=$!
printf '#!/bin/sh\nexec nsenter --net=/proc/%s/ns/net %s -F %s "$@"\n' "$sshd_pid" "$(command -v ssh)" "$sshw/config" > "$sshw/bin/ssh"
mkdir -m 0700 "$sshw/gcm"
printf '%s\n' "Include $sshw/config" "Host *" "  Ciphers ^aes128-gcm@openssh.com" > "$sshw/config-gcm"
sed "s|-F $sshw/config|-F $sshw/config-gcm|" "$sshw/bin/ssh" > "$sshw/gcm/ssh"
chmod 0755 "$sshw/bin/ssh" "$sshw/gcm/ssh"
# side CMD...: CMD in the cgroup (a subshell: the bench stays outside),
# with the wrapper first in PATH.
side() (
	[ -z "$ssh_cg" ] || echo "$BASHPID" > "$ssh_cg/cgroup.procs"
	PATH=${sshw_bin:-$sshw/bin}:$PATH
	"$@"
)
for i in $(seq 100); do
	side ssh -i "$sshw/ref" root@127.0.0.1 true 2>/dev/null && break
	[ "$i" -lt 100 ] || { echo "bench: sshd did not answer within 10 s:" >&2; cat "$sshw/sshd.log" >&2; exit 1; }
	sleep 0.1
done
ssh_target() { # name subvolumes [extra-line]
	printf '[[target]]\nname = "%s"\nurl = "ssh://root@127.0.0.1:22%s"\nidentity_file = "%s"\n%s\n%s\nsubvolumes = [%s]\n\n' "$1" "${ssh_root[$1]}" "$sshw/$1" "${3:-}" "$keep" "$2"
}
{
	ssh_target ssh-full '"@bulk"'
	ssh_target ssh-zstd '"@bulk"' 'compress = "zstd"'
	ssh_target ssh-inc "$(printf '"%s",' "${send_svs[@]}" | sed 's/,$//')"
} > "$work/sendcfg/config.d/25-ssh.toml"
btrbk_ssh_conf() { # file extra-global-line
	printf 'timestamp_format long-iso\nsnapshot_create no\nsnapshot_preserve_min all\ntarget_preserve_min all\nssh_user root\nssh_identity %s\n%s\nvolume %s\n  snapshot_dir btrbk\n  target send-receive ssh://127.0.0.1%s\n  subvolume @bulk\n' \
		"$sshw/ref" "$2" "$src" "$dst/ssh-btrbk" > "$1"
}
btrbk_ssh_conf "$work/btrbk-ssh.conf" ""
btrbk_ssh_conf "$work/btrbk-ssh-zstd.conf" "stream_compress zstd"

# ssh_parents: the parents P, received once by ours over SSH (untimed); the
# pipeline's are the copies of the local rows on the target filesystem.
ssh_parents() {
	local s
	side "$bin/impermanence-send" "${scfg[@]}" --target ssh-inc >/dev/null
	for s in "${send_svs[@]}" @bulk; do mkdir -p "$dst/ssh-plain/$s"; done
}

sshfull_prep() { unrecv "$dst/ssh-full/@bulk/$S" "$dst/ssh-zstd/@bulk/$S" "$dst/ssh-plain/@bulk/$S" "$dst/ssh-btrbk/@bulk.$BS"; }
sshinc_prep() {
	local s a=()
	for s in "${send_svs[@]}"; do
		[ ! -e "$work/bk/ssh-inc/$s/$S" ] || btrfs -q subvolume delete "$work/bk/ssh-inc/$s/$S" >/dev/null
		a+=("$dst/ssh-plain/$s/$S")
	done
	btrfs -q filesystem sync "$work/bk"
	btrfs subvolume sync "$work/bk" >/dev/null
	unrecv "${a[@]}"
}
sshfull_ours() { side "$bin/impermanence-send" "${scfg[@]}" --target ssh-full; }
sshzstd_ours() { side "$bin/impermanence-send" "${scfg[@]}" --target ssh-zstd; }
sshgcm_ours() ( sshw_bin=$sshw/gcm side "$bin/impermanence-send" "${scfg[@]}" --target ssh-full )
sshinc_ours() { side "$bin/impermanence-send" "${scfg[@]}" --target ssh-inc; }
sshfull_pipe() { btrfs send -q "$src/@snapshots/@bulk/$S" | ssh -i "$sshw/ref" root@127.0.0.1 btrfs receive -q "$dst/ssh-plain/@bulk/"; }
sshzstd_pipe() { btrfs send -q "$src/@snapshots/@bulk/$S" | zstd -c | ssh -o compression=no -i "$sshw/ref" root@127.0.0.1 "zstd -d -c | btrfs receive -q $dst/ssh-plain/@bulk/"; }
sshinc_pipe() {
	local s
	for s in "${send_svs[@]}"; do
		btrfs send -q -p "$src/@snapshots/$s/$P" "$src/@snapshots/$s/$S" | ssh -i "$sshw/ref" root@127.0.0.1 btrfs receive -q "$dst/ssh-plain/$s/" || return 1
	done
}
sshfull_plain() { side sshfull_pipe; }
sshzstd_plain() { side sshzstd_pipe; }
sshinc_plain() { side sshinc_pipe; }
sshfull_btrbk() { side btrbk -c "$work/btrbk-ssh.conf" --preserve resume; }
sshzstd_btrbk() { side btrbk -c "$work/btrbk-ssh-zstd.conf" --preserve resume; }

SSH_ROWS=${SSH_ROWS:-full full-btrbk zstd zstd-btrbk inc}
ssh_pair() { # row-after-send-ssh- prep ours ref
	[[ " $SSH_ROWS " == *" $1 "* ]] || return 0
	pair "send-ssh-$1" "$2" "$3" "$4"
}
ssh_rows() {
	find "$src/@snapshots/@bulk/$S" -type f -printf '%s\n' | awk '{ n += $1 } END { printf "%d\n", n }' > "$work/ssh-bytes"
	[ -z "$ssh_cg" ] || PAIR_CPU=$ssh_cg/cpu.stat
	echo "bench: send: full send of $SEND_MB MiB over SSH" >&2
	ssh_pair full sshfull_prep sshfull_ours sshfull_plain
	ssh_pair full-btrbk sshfull_prep sshfull_ours sshfull_btrbk
	echo "bench: send: full send of $SEND_MB MiB over SSH, zstd" >&2
	ssh_pair zstd sshfull_prep sshzstd_ours sshzstd_plain
	ssh_pair zstd-btrbk sshfull_prep sshzstd_ours sshzstd_btrbk
	sshfull_prep
	echo "bench: send: 7 incrementals over SSH" >&2
	ssh_pair inc sshinc_prep sshinc_ours sshinc_plain
	sshinc_prep
	ssh_pair cipher sshfull_prep sshgcm_ours sshfull_ours
	sshfull_prep
	PAIR_CPU=""
}
