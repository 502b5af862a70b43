#!/usr/bin/env bash
# bench.sh (make bench): whole processes of the suite side by side with the
# command an operator would run instead, on the same loop-backed btrfs:
# interleaved pairs (ours, reference, ours, …) after a warm-up, the median
# and range of the per-pair ratios (ours / reference: below 1 is faster).
# Prints one table and writes every sample as JSON (BENCH_JSON).
#
# Usage (root): scripts/bench.sh
#   PAIRS=10        pairs per row
#   SNAPS=5000      snapshots listed
#   PRUNE_SNAPS=1000 hourly snapshots of one subvolume pruned (5000:
#                   snapshots of one subvolume into one directory are slow to
#                   make, 15 minutes on a loaded machine)
#   WAIT_SNAPS=5000 hourly snapshots over five subvolumes (most of them
#                   deleted) for prune --wait
#   ROWS="core send rollback" which groups of rows run (make bench-send:
#                   send, make bench-rollback: rollback; send-ssh: only the
#                   SSH rows of the send group, make bench-send-ssh)
#   ONLY=""         which rows of those groups run, by name ("send-list",
#                   "list-warm list-cold"); empty: all. A group's fixture is
#                   still made, but the send group fills and sends its data
#                   only for its transfer rows (ROWS=send ONLY=send-list
#                   takes about two minutes)
#   SEND_LIST=5000  snapshots a target holds for impermanence-send list
#   SEND_MB=1024    MiB of the full send (and of the SSH rows)
#   ROLLBACK_FILES=100000 files per archive of the rollback row (30 archives)
#   ROLLBACK_PAIRS=PAIRS pairs of the rollback row
#   BENCH_JSON=bench/results.json
# Everything runs in a private mount namespace (/run, /var/lib, /var/log are
# tmpfs there, so no state or audit record of this machine is touched); the
# image, its loop device and mount are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-10}
SNAPS=${SNAPS:-5000}
PRUNE_SNAPS=${PRUNE_SNAPS:-1000}
WAIT_SNAPS=${WAIT_SNAPS:-5000}
ROLLBACK_FILES=${ROLLBACK_FILES:-100000}
ROWS=${ROWS:-core send rollback}
ONLY=${ONLY:-}
ROLLBACK_PAIRS=${ROLLBACK_PAIRS:-$PAIRS}
SEND_LIST=${SEND_LIST:-5000}
SEND_MB=${SEND_MB:-1024}
BENCH_JSON=${BENCH_JSON:-$PWD/bench/results.json}
export PAIRS SNAPS PRUNE_SNAPS WAIT_SNAPS ROLLBACK_FILES ROLLBACK_PAIRS ROWS ONLY SEND_LIST SEND_MB BENCH_JSON
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (loop device, mounts)" >&2; exit 1; }
if [ "${1:-}" != --inner ]; then
	make --no-print-directory build >/dev/null
	exec unshare --mount --propagation private "$0" --inner
fi

# BENCH_TRACE=1: every command with the time, and the warm-up's output.
[ -z "${BENCH_TRACE:-}" ] || { PS4='+ $(date +%T.%N | cut -c1-12) '; set -x; }
bin=$PWD/bin
work=$(mktemp -d /tmp/bench.XXXXXX)
dev=""
cleanup_hooks=() # commands the sourced rows add, run first by cleanup
extra_mounts=() # the other filesystems' mountpoints, and their dev:image
extra_devs=()
cleanup() {
	set +e
	local m d h
	for h in "${cleanup_hooks[@]}"; do $h; done
	umount "$work/gen" /var/lib /var/log 2>/dev/null
	for m in "${extra_mounts[@]}"; do mountpoint -q "$m" && umount "$m"; done
	mountpoint -q "$work/top" && umount "$work/top"
	for d in "$dev:$work/img" "${extra_devs[@]}"; do
		if [ "${d%%:*}" != "" ] && [ "$(cat "/sys/block/$(basename "${d%%:*}")/loop/backing_file" 2>/dev/null)" = "${d#*:}" ]; then
			losetup -d "${d%%:*}"
		fi
	done
	grep -q " $work/" /proc/self/mountinfo || rm -rf "$work"
}
want() { [[ " $ROWS " == *" $1 "* ]]; }
# wanted ROW: whether the row runs (ONLY).
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
# mk_loop_fs NAME SIZE: another loop-backed btrfs of the send and rollback
# rows, mounted (top level) at $work/NAME; its device in fsdev_NAME.
mk_loop_fs() { # name size -> sets fsdev_<name>, mounts $work/<name>
	truncate -s "$2" "$work/$1.img"
	mkfs.btrfs -q -f "$work/$1.img" 2>/dev/null
	local d
	d=$(losetup --find --show --direct-io=on "$work/$1.img")
	extra_devs+=("$d:$work/$1.img")
	mkdir "$work/$1"
	mount -o subvolid=5 "$d" "$work/$1"
	extra_mounts+=("$work/$1")
	printf -v "fsdev_$1" %s "$d"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount -t tmpfs -o mode=0755 bench /run
mkdir -p "$(dirname "$BENCH_JSON")"
samples=$work/samples # row ours_ns ref_ns
: > "$samples"
load0=$(cut -d' ' -f1-3 /proc/loadavg)

now() { date +%s%N; }
# cpu_usec: the CPU time so far (user + system, microseconds) of the
# cgroup v2 whose cpu.stat PAIR_CPU names (set by the rows that run every
# process of a side in it, the SSH rows); 0 without.
cpu_usec() { if [ -n "${PAIR_CPU:-}" ]; then awk '$1 == "usage_usec" { print $2 }' "$PAIR_CPU"; else echo 0; fi; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
# pair ROW PREP OURS REF: after one warm-up of each, PAIRS interleaved runs;
# PREP runs before every run (untimed), with the side as its argument.
# With PAIR_CPU set, each sample also has both runs' CPU time (cpu_usec).
pair() {
	local row=$1 prep=$2 ours=$3 ref=$4 i t0 a b c0 ca cb
	wanted "$row" || return 0
	echo "$row $(cut -d' ' -f1 /proc/loadavg)" >> "$work/rowload"
	$prep ours; $ours 0 >"$work/out" 2>"$work/err" || { echo "bench: $row: $ours failed" >&2; cat "$work/err" >&2; exit 1; }
	[ -z "${BENCH_TRACE:-}" ] || { echo "bench: $row: warm-up of ours:"; cat "$work/out" "$work/err"; } >&2
	$prep ref; $ref 0 >/dev/null 2>&1 || { echo "bench: $row: $ref failed" >&2; exit 1; }
	for i in $(seq "$PAIRS"); do
		if [ $((i % 2)) -eq 1 ]; then
			$prep ours; c0=$(cpu_usec); t0=$(now); $ours "$i" >/dev/null 2>"$work/err.timed" || fail "$row" "$ours"; a=$(($(now) - t0)); ca=$(($(cpu_usec) - c0))
			$prep ref; c0=$(cpu_usec); t0=$(now); $ref "$i" >/dev/null 2>"$work/err.timed" || fail "$row" "$ref"; b=$(($(now) - t0)); cb=$(($(cpu_usec) - c0))
		else
			$prep ref; c0=$(cpu_usec); t0=$(now); $ref "$i" >/dev/null 2>"$work/err.timed" || fail "$row" "$ref"; b=$(($(now) - t0)); cb=$(($(cpu_usec) - c0))
			$prep ours; c0=$(cpu_usec); t0=$(now); $ours "$i" >/dev/null 2>"$work/err.timed" || fail "$row" "$ours"; a=$(($(now) - t0)); ca=$(($(cpu_usec) - c0))
		fi
		if [ -n "${PAIR_CPU:-}" ]; then echo "$row $a $b $ca $cb" >> "$samples"; else echo "$row $a $b" >> "$samples"; fi
	done
}
# fail ROW FN: a timed run failed; its stderr (kept in $work/err.timed) says why.
fail() { echo "bench: $1: $2 failed in a timed run:" >&2; cat "$work/err.timed" >&2; exit 1; }
nothing() { :; }

truncate -s 16G "$work/img"
mkfs.btrfs -q -f "$work/img"
dev=$(losetup --find --show --direct-io=on "$work/img")
mkdir "$work/top"
mount -o subvolid=5 "$dev" "$work/top"
top=$work/top
# State, audit log and journal-less logs on the same btrfs, as on a server
# (so the jobs' fsyncs wait for the filesystem they snapshot).
for d in /var/lib /var/log; do
	mkdir -p "$top/bench$d"
	mount --bind "$top/bench$d" "$d"
done

# The default layout, 7 subvolumes snapshotted (the default's 4 and 3 more),
# about 200 files in each.
"$bin/server-impermanence-generator" --print-default | sed -e "s|^device *=.*|device = \"$dev\"|" > "$work/config.toml"
mkdir "$work/config.d"
for s in @nix @var-backup @var-lib-containers; do
	printf '[[subvolume]]\nname = "%s"\nsnapshot = true\n\n' "$s" >> "$work/config.d/10-seven.toml"
done
"$bin/impermanence-provision" --config "$work/config.toml" --mount "$top" >/dev/null
svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix @var-backup @var-lib-containers)
for s in "${svs[@]}"; do
	mkdir -p "$top/$s/files"
	for f in $(seq 200); do echo "file $f of $s" > "$top/$s/files/$f"; done
done
mkdir -m 0700 "$top/cli"
sync
cfg=(--config "$work/config.toml" --mount "$top")

if want core; then
echo "bench: snapshot run of 7 subvolumes" >&2
snap_ours() { "$bin/impermanence-snapshot" "${cfg[@]}" --label "r$1"; }
snap_ref() { local s; for s in "${svs[@]}"; do btrfs subvolume snapshot -r "$top/$s" "$top/cli/$s-r$1-$$-$RANDOM"; done; }
pair snapshot nothing snap_ours snap_ref

echo "bench: $SNAPS snapshots to list" >&2
base=$(date -u -d "-$((SNAPS + 2)) hours" +%s)
seq 0 $((SNAPS - 1)) | xargs -P 16 -n 100 bash -c '
	svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix)
	for i; do
		s=${svs[$((i % 5))]}
		btrfs -q subvolume snapshot -r "'"$top"'/$s" "'"$top"'/@snapshots/$s/$(date -u -d "@$(('"$base"' + i * 3600))" +%Y%m%dT%H%M%SZ)"
	done' bash
list_ours() { "$bin/impermanence-snapshot" list "${cfg[@]}" | cat; }
list_ref() { btrfs subvolume list -s "$top" | cat; }
echo "bench: list" >&2
pair list-warm nothing list_ours list_ref
drop_prep() { drop; }
pair list-cold drop_prep list_ours list_ref

echo "bench: generator" >&2
gen_out=$work/gen
mkdir "$gen_out"
mount -t tmpfs bench-generator "$gen_out"
mkdir -p /etc/server-impermanence
mount -t tmpfs bench-etc /etc/server-impermanence
cp "$work/config.toml" /etc/server-impermanence/config.toml
mkdir "$gen_out/probe"
"$bin/server-impermanence-generator" "$gen_out/probe" "$gen_out/probe" "$gen_out/probe" 2>/dev/null || true
mounts=$(find "$gen_out/probe" -maxdepth 1 -name '*.mount' | wc -l)
for i in $(seq 1 "$mounts"); do
	echo "LABEL=server /srv/m$i btrfs subvol=@m$i,compress=zstd:1,discard=async,commit=30,noatime 0 0"
done > "$work/fstab"
fstabgen=/usr/lib/systemd/system-generators/systemd-fstab-generator
gen_prep() { rm -rf "$gen_out/o"; mkdir -p "$gen_out/o/n" "$gen_out/o/e" "$gen_out/o/l"; }
# One run of a generator is a few ms: time 20 in a row.
gen_ours() { local i; for i in $(seq 20); do gen_prep; "$bin/server-impermanence-generator" "$gen_out/o/n" "$gen_out/o/e" "$gen_out/o/l"; done; }
gen_ref() { local i; for i in $(seq 20); do gen_prep; SYSTEMD_FSTAB="$work/fstab" "$fstabgen" "$gen_out/o/n" "$gen_out/o/e" "$gen_out/o/l"; done; }
pair generator nothing gen_ours gen_ref

pbase=$(date -u -d "-$((PRUNE_SNAPS + 2)) hours" +%s)
# prune: PRUNE_SNAPS hourly snapshots of @persist for each tool; one pair (it
# consumes its input).
echo "bench: prune" >&2
mk_hourly() { # dir name-format
	seq 0 $((PRUNE_SNAPS - 1)) | xargs -P 4 -n 100 bash -c '
		for i; do btrfs -q subvolume snapshot -r "'"$top"'/@persist" "'"$1"'/$(date -u -d "@$(('"$pbase"' + i * 3600))" +"'"$2"'")"; done' bash
}
# prune --wait: WAIT_SNAPS hourly snapshots over the five listed subvolumes
# (into five directories: snapshots into one directory wait for each other).
mk_wait() { # name-format
	seq 0 $((WAIT_SNAPS - 1)) | xargs -P 8 -n 100 bash -c '
		svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix)
		for i; do s=${svs[$((i % 5))]}; btrfs -q subvolume snapshot -r "'"$top"'/$s" "'"$top"'/@snapshots/$s/$(date -u -d "@$(('"$wbase"' + i / 5 * 3600))" +"'"$1"'")"; done' bash
}
wbase=$(date -u -d "-$((WAIT_SNAPS / 5 + 2)) hours" +%s)
prune_row() { # row ours-args... ; the reference is btrbk, or for prune-wait btrfs subvolume delete -c + sync
	local row=$1 t0 a b ru ids ndel pid tp c c1 clast lag
	wanted "$row" || return 0
	shift
	find "$top/@snapshots" -mindepth 2 -maxdepth 2 -name '2*' -exec btrfs -q subvolume delete {} + >/dev/null
	btrfs subvolume sync "$top" >/dev/null
	if [ "$row" = prune-wait ]; then
		mk_wait '%Y%m%dT%H%M%SZ'
	else
		mk_hourly "$top/@snapshots/@persist" '%Y%m%dT%H%M%SZ'
	fi
	if [ "$row" = prune-wait ]; then
		# The ids it will delete, for btrfs subvolume sync started with it.
		ids=$("$bin/impermanence-prune" "${cfg[@]}" --dry-run --json 2>/dev/null |
			python3 -c 'import json,sys; print(" ".join(str(i["id"]) for i in json.load(sys.stdin)["plan"]["items"] if i.get("delete")))')
		ndel=$(echo "$ids" | wc -w)
	fi
	drop
	t0=$(now)
	if [ "$row" = prune-wait ]; then
		# btrfs subvolume sync of the same ids, started at the same moment,
		# waits for them to be deleted and then cleaned: the lag is when
		# ours returned after it. Ours' CPU after its last deletion (the
		# commit and the wait) is sampled from /proc (in 10 ms ticks).
		( btrfs subvolume sync "$top" $ids >/dev/null; now > "$work/sync.end" ) &
		/usr/bin/time -f '%U %S %M' -o "$work/ru" "$bin/impermanence-prune" "${cfg[@]}" "$@" >/dev/null 2>"$work/perr" &
		tp=$!
		pid=""
		while [ -z "$pid" ] && kill -0 "$tp" 2>/dev/null; do pid=$(pgrep -P "$tp" || true); done
		c1="" clast=0
		while [ -n "$pid" ] && c=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null); do
			clast=$c
			if [ -z "$c1" ] && [ "$(grep -c ' deleted: ' "$work/perr")" -ge "$ndel" ]; then c1=$c; fi
			sleep 0.02
		done
		wait "$tp" || true
		a=$(($(now) - t0))
		wait
		lag=$(( (t0 + a - $(cat "$work/sync.end")) / 1000000 ))
		ru="$(tail -1 "$work/ru") $(( (clast - ${c1:-$clast}) * 10 )) $lag"
	else
		/usr/bin/time -f '%U %S %M' -o "$work/ru" "$bin/impermanence-prune" "${cfg[@]}" "$@" >/dev/null 2>&1 || true
		a=$(($(now) - t0))
		ru="$(tail -1 "$work/ru") - -"
	fi
	kept=$(find "$top/@snapshots/@persist" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)
	if [ "$row" = prune-wait ]; then
		# The reference: as many deletions by btrfs-progs, committed, then
		# its sync (CPU and peak memory of both commands).
		mk_wait '%Y%m%dT%H%M%SZ.ref'
		drop
		t0=$(now)
		/usr/bin/time -f '%U %S %M' -o "$work/ru1" btrfs -q subvolume delete -c $(ls -d "$top"/@snapshots/*/*.ref | head -n "$ndel") >/dev/null
		/usr/bin/time -f '%U %S %M' -o "$work/ru2" btrfs subvolume sync "$top" >/dev/null
		b=$(($(now) - t0))
		ru="$ru $(tail -1 "$work/ru1" | awk -v x="$(tail -1 "$work/ru2")" '{split(x, y, " "); print $1 + $2 + y[1] + y[2], ($3 > y[3] ? $3 : y[3])}') $ndel"
	else
		rm -rf "$top/btrbk"; mkdir "$top/btrbk"
		mk_hourly "$top/btrbk" '@persist.%Y%m%dT%H%M%S+0000'
		printf 'timestamp_format long-iso\nsnapshot_preserve_min latest\nsnapshot_preserve 24h 7d 4w 12m\nvolume %s\n  snapshot_dir btrbk\n  subvolume @persist\n    snapshot_create no\n' "$top" > "$work/btrbk.conf"
		drop
		t0=$(now)
		btrbk -c "$work/btrbk.conf" prune >/dev/null 2>&1 || true
		b=$(($(now) - t0))
		ru="$ru - - -"
	fi
	echo "$row $a $b $ru $kept" >> "$samples"
}
prune_row prune
if ! wanted prune || command -v btrbk >/dev/null; then :; else sed -i '$d' "$samples"; echo "bench: btrbk not installed: no prune row" >&2; fi
prune_row prune-wait --wait 5m

fi # core
if want send || want send-ssh; then . scripts/bench-send.sh; fi
if want rollback; then . scripts/bench-rollback.sh; fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# The table and the JSON.
awk -v pairs="$PAIRS" -v snaps="$SNAPS" -v psnaps="$PRUNE_SNAPS" -v wsnaps="$WAIT_SNAPS" -v files="$ROLLBACK_FILES" -v slist="$SEND_LIST" -v smb="$SEND_MB" -v sshbytes="$(cat "$work/ssh-bytes" 2>/dev/null || echo 0)" -v rowload="$(cat "$work/rowload" 2>/dev/null | tr '\n' ' ')" -v json="$BENCH_JSON" \
	-v cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" -v ncpu="$(nproc)" \
	-v kernel="$(uname -r)" -v load0="$load0" -v load1="$load1" -v progs="$(btrfs --version | head -1)" '
function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j] < a[j-1]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
BEGIN {
	what["snapshot"] = "snapshot run, 7 subvolumes|impermanence-snapshot|7x btrfs subvolume snapshot -r"
	what["list-warm"] = "list " snaps " snapshots into a pipe, warm cache|impermanence-snapshot list|btrfs subvolume list -s"
	what["list-cold"] = "list " snaps " snapshots into a pipe, cold cache|impermanence-snapshot list|btrfs subvolume list -s"
	what["generator"] = "generator, default layout (20 runs)|server-impermanence-generator|systemd-fstab-generator, same number of mounts"
	what["prune"] = "prune " psnaps " hourly snapshots|impermanence-prune|btrbk prune (24h 7d 4w 12m)"
	what["prune-wait"] = "delete most of " wsnaps " and wait for the space|impermanence-prune --wait|btrfs subvolume delete -c + btrfs subvolume sync"
	what["send-inc"] = "send 7 incrementals (1 % changed), local target|impermanence-send|btrfs send -p P S | btrfs receive, 7x"
	what["send-inc-btrbk"] = "send 7 incrementals (1 % changed), vs btrbk|impermanence-send|btrbk --preserve resume"
	what["send-full"] = "full send of " smb " MiB, local target|impermanence-send|btrfs send S | btrfs receive"
	what["send-full-btrbk"] = "full send of " smb " MiB, vs btrbk|impermanence-send|btrbk --preserve resume"
	what["send-ssh-full"] = "full send of " smb " MiB over SSH (loopback)|impermanence-send (ssh:// target)|btrfs send S | ssh H btrfs receive"
	what["send-ssh-full-btrbk"] = "full send of " smb " MiB over SSH, vs btrbk|impermanence-send (ssh:// target)|btrbk --preserve resume (ssh:// target)"
	what["send-ssh-zstd"] = "full send of " smb " MiB over SSH, zstd|impermanence-send (compress = zstd)|btrfs send S | zstd -c | ssh -o Compression=no H zstd -d -c | btrfs receive"
	what["send-ssh-zstd-btrbk"] = "full send of " smb " MiB over SSH, zstd, vs btrbk|impermanence-send (compress = zstd)|btrbk --preserve resume (stream_compress zstd)"
	what["send-ssh-cipher"] = "full send of " smb " MiB over SSH, AES-GCM first|impermanence-send, Ciphers ^aes128-gcm@openssh.com|impermanence-send, the default cipher order"
	what["send-ssh-inc"] = "7 incrementals (1 % changed) over SSH|impermanence-send (ssh:// target)|btrfs send -p P S | ssh H btrfs receive, 7x"
	what["send-list"] = "send list, target of " slist " snapshots|impermanence-send list|btrfs subvolume list (target)"
	what["rollback"] = "rollback, 30 archives of " files " files, 15 expired|impermanence-rollback --config (as the initrd)|scripts/rollback-recipe.sh"
	order = "snapshot list-warm list-cold generator prune prune-wait send-inc send-inc-btrbk send-full send-full-btrbk send-ssh-full send-ssh-full-btrbk send-ssh-zstd send-ssh-zstd-btrbk send-ssh-inc send-ssh-cipher send-list rollback"
	nl = split(rowload, L, " "); for (i = 1; i + 1 <= nl; i += 2) load[L[i]] = L[i+1]
}
{ r = $1; n[r]++; A[r, n[r]] = $2; B[r, n[r]] = $3; R[r, n[r]] = $2 / $3
	# SSH rows: the CPU time (us) of every process of each side
	if (r ~ /^send-ssh/ && NF >= 5) { hascpu[r] = 1; CA[r, n[r]] = $4; CB[r, n[r]] = $5; CR[r, n[r]] = ($5 > 0 ? $4 / $5 : 0) }
	# prune rows: user sys peak-KB wait-CPU-ms lag-ms [ref-CPU-s ref-peak-KB deletions] kept
	if (r == "prune") extra[r] = sprintf("CPU %.2f s, peak %.1f MB, %d kept", $4 + $5, $6 / 1024, $NF)
	if (r == "prune-wait") extra[r] = sprintf("%d deletions: CPU %.2f s (%d ms after the last deletion), peak %.1f MB; reference CPU %.2f s, peak %.1f MB; returned %d ms %s btrfs subvolume sync of the same ids", $11, $4 + $5, $7, $6 / 1024, $9, $10 / 1024, ($8 < 0 ? -$8 : $8), ($8 < 0 ? "before" : "after")) }
END {
	printf "%-48s %12s %12s %8s %s\n", "row (whole processes)", "ours ms", "ref ms", "ratio", "range / notes"
	printf "{\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %d, \"kernel\": \"%s\", \"btrfs_progs\": \"%s\", \"load_before\": \"%s\", \"load_after\": \"%s\"},\n  \"pairs\": %d,\n  \"rows\": [\n", cpu, ncpu, kernel, progs, load0, load1, pairs > json
	c = split(order, rows, " "); first = 1
	for (k = 1; k <= c; k++) {
		r = rows[k]; m = n[r]; if (!m) continue
		# row|ours|reference: the reference is the rest (a pipeline has |)
		split(what[r], w, "|"); w[3] = what[r]; sub(/^[^|]*\|[^|]*\|/, "", w[3])
		for (i = 1; i <= m; i++) { x[i] = A[r, i]; y[i] = B[r, i]; z[i] = R[r, i] }
		ma = med(x, m); mb = med(y, m)
		for (i = 1; i <= m; i++) z[i] = R[r, i]
		mr = med(z, m); lo = z[1]; hi = z[m]
		note = (m > 1) ? sprintf("%.2f-%.2f (%d pairs)", lo, hi, m) : "one pair"
		if (r in hascpu) {
			for (i = 1; i <= m; i++) { x[i] = CA[r, i]; y[i] = CB[r, i]; z[i] = CR[r, i] }
			ca = med(x, m) / 1e6; cb = med(y, m) / 1e6; cr = med(z, m); clo = z[1]; chi = z[m]
			if (r ~ /inc/ || sshbytes <= 0)
				extra[r] = sprintf("CPU ours %.2f s, ref %.2f s (%.2fx, %.2f-%.2f)", ca, cb, cr, clo, chi)
			else {
				gib = sshbytes / 2^30
				extra[r] = sprintf("ours %.0f MB/s, ref %.0f MB/s; CPU ours %.2f s/GiB, ref %.2f s/GiB (%.2fx, %.2f-%.2f)", sshbytes / 1e6 / (ma / 1e9), sshbytes / 1e6 / (mb / 1e9), ca / gib, cb / gib, cr, clo, chi)
			}
		}
		if (r in extra) note = note ", " extra[r]
		if (r in load) note = note ", load " load[r]
		printf "%-48s %12.1f %12.1f %7.2fx %s\n", w[1], ma / 1e6, mb / 1e6, mr, note
		printf "%s    {\"row\": \"%s\", \"what\": \"%s\", \"ours\": \"%s\", \"reference\": \"%s\", \"ours_ms_median\": %.3f, \"reference_ms_median\": %.3f, \"ratio_median\": %.4f, \"ratio_min\": %.4f, \"ratio_max\": %.4f, \"notes\": \"%s\", \"samples_ns\": [", (first ? "" : ",\n"), r, w[1], w[2], w[3], ma / 1e6, mb / 1e6, mr, lo, hi, extra[r] > json
		for (i = 1; i <= m; i++) printf "%s[%.0f, %.0f]", (i > 1 ? ", " : ""), A[r, i], B[r, i] > json
		printf "]" > json
		if (r in hascpu) {
			printf ", \"subvolume_bytes\": %.0f, \"cpu_usec\": [", (r ~ /inc/ ? 0 : sshbytes) > json
			for (i = 1; i <= m; i++) printf "%s[%.0f, %.0f]", (i > 1 ? ", " : ""), CA[r, i], CB[r, i] > json
			printf "]" > json
		}
		printf "}" > json
		first = 0
	}
	printf "\n  ]\n}\n" > json
	printf "machine: %s, %d cores, kernel %s, %s; load %s before, %s after\n", cpu, ncpu, kernel, progs, load0, load1
}' "$samples"
echo "bench: samples in $BENCH_JSON" >&2
