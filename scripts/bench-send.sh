# bench-send.sh: the replication rows of make bench (make bench-send runs
# them alone). Sourced by scripts/bench.sh, whose pair, drop, now, $work,
# $bin and cleanup it uses; not a script of its own.
#
# A source filesystem (the default layout, the 7 snapshotted subvolumes and
# @bulk) and a target filesystem, each a sparse image on its own loop device.
# Every side reads the same read-only source snapshots:
#   send-inc*   7 incrementals (P -> S, about 1 % of each subvolume's data
#               changed between them) to the target, whose copy of P was
#               received once before the row; between runs (untimed) the
#               received S are deleted and the cleaner waited for.
#   send-full*  one full send of @bulk (1 GiB: 3,000 files, a third random,
#               the rest text-like), deleted the same way between runs.
#   send-list   impermanence-send list against a target holding SEND_LIST
#               snapshots.
#   send-ssh*   the full send and the incrementals over SSH on loopback
#               (scripts/bench-send-ssh.sh); ROWS=send-ssh runs only these.
SEND_LIST=${SEND_LIST:-5000}
SEND_MB=${SEND_MB:-1024}

echo "bench: send: source and target filesystems" >&2
mk_loop_fs src 16G
mk_loop_fs dst 16G
src=$work/src dst=$work/dst
send_svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix @var-backup @var-lib-containers)
mkdir -p "$work/sendcfg/config.d"
"$bin/server-impermanence-generator" --print-default | sed -e "s|^device *=.*|device = \"$fsdev_src\"|" > "$work/sendcfg/config.toml"
for s in @nix @var-backup @var-lib-containers; do
	printf '[[subvolume]]\nname = "%s"\nsnapshot = true\n\n' "$s" >> "$work/sendcfg/config.d/10-seven.toml"
done
printf '[[subvolume]]\nname = "@bulk"\nmountpoint = "/srv/bulk"\nclass = "permanent"\ncompression = "zstd"\nsnapshot = true\n' >> "$work/sendcfg/config.d/10-seven.toml"
# Every target keeps everything (hourly buckets over the two snapshots), so
# no run deletes the parent the next one starts from.
keep='retention = { hourly = 48, daily = 14, keep_min = 10 }'
mkdir -p "$dst/ours-inc" "$dst/ours-full"
{
	printf '[[target]]\nname = "inc"\nurl = "%s"\n%s\nsubvolumes = [%s]\n\n' "$dst/ours-inc" "$keep" "$(printf '"%s",' "${send_svs[@]}" | sed 's/,$//')"
	printf '[[target]]\nname = "full"\nurl = "%s"\n%s\nsubvolumes = ["@bulk"]\n\n' "$dst/ours-full" "$keep"
} > "$work/sendcfg/config.d/20-targets.toml"
scfg=(--config "$work/sendcfg/config.toml" --mount "$src")
. scripts/bench-send-ssh.sh
"$bin/impermanence-provision" "${scfg[@]}" >/dev/null

# The transfer rows' data, and their parents sent, only when one of them
# runs (ONLY): send-list reads none of it.
xfer=false
for r in send-inc send-inc-btrbk send-full send-full-btrbk send-ssh-full send-ssh-full-btrbk send-ssh-zstd send-ssh-zstd-btrbk send-ssh-inc; do if wanted "$r"; then xfer=true; fi; done
# The data: each of the 7 subvolumes 32 MiB (200 small files, 500 files of
# 64 KiB, a third random, the rest text-like); @bulk SEND_MB MiB in 3,000
# files.
$xfer && python3 - "$src" "$SEND_MB" "${send_svs[@]}" <<'PY'
import os, random, sys
top, mb, svs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rnd = random.Random(7)
line = b"2026-12-07T01:00:00Z web1 nginx[811]: GET /index.html?id=%d 200 1532\n"
def text(n, seed):
    out, i = bytearray(), seed
    while len(out) < n:
        out += line % i; i += 1
    return bytes(out[:n])
def fill(d, files, size):
    os.makedirs(d, exist_ok=True)
    for i in range(files):
        data = rnd.randbytes(size) if i % 3 == 0 else text(size, i * 1000)
        with open(os.path.join(d, "f%05d" % i), "wb") as f:
            f.write(data)
for sv in svs:
    fill(os.path.join(top, sv, "small"), 200, 300)
    fill(os.path.join(top, sv, "data"), 500, 64 << 10)
fill(os.path.join(top, "@bulk", "data"), 3000, (mb << 20) // 3000)
PY
sync
ts() { date -u -d "@$1" +%Y%m%dT%H%M%SZ; }
bts() { date -u -d "@$1" +%Y%m%dT%H%M%S+0000; } # btrbk's long-iso names
sendnow=$(date +%s)
P=$(ts $((sendnow - 7200))) S=$(ts $((sendnow - 3600)))
BP=$(bts $((sendnow - 7200))) BS=$(bts $((sendnow - 3600)))
# btrbk names its snapshots <name>.<timestamp> in one folder: each of ours
# snapshotted read-only again under its name (the same data and sharing).
mkdir -p "$src/btrbk" "$dst/plain" "$dst/btrbk-inc" "$dst/btrbk-full"
for s in "${send_svs[@]}" @bulk; do mkdir -p "$src/@snapshots/$s"; done
for s in "${send_svs[@]}"; do
	btrfs -q subvolume snapshot -r "$src/$s" "$src/@snapshots/$s/$P"
	btrfs -q subvolume snapshot -r "$src/@snapshots/$s/$P" "$src/btrbk/$s.$BP"
	mkdir -p "$dst/plain/$s"
done
mkdir -p "$dst/plain/@bulk"
btrbk_conf() { # file target-dir subvolumes...
	local f=$1 t=$2 s
	shift 2
	{
		printf 'timestamp_format long-iso\nsnapshot_create no\nsnapshot_preserve_min all\ntarget_preserve_min all\n'
		printf 'volume %s\n  snapshot_dir btrbk\n  target send-receive %s\n' "$src" "$t"
		for s; do printf '  subvolume %s\n' "$s"; done
	} > "$f"
}
btrbk_conf "$work/btrbk-inc.conf" "$dst/btrbk-inc" "${send_svs[@]}"
btrbk_conf "$work/btrbk-full.conf" "$dst/btrbk-full" @bulk
# The parents P, received once by each side (untimed).
if $xfer; then
	"$bin/impermanence-send" "${scfg[@]}" --target inc >/dev/null
	for s in "${send_svs[@]}"; do btrfs send -q "$src/@snapshots/$s/$P" | btrfs receive -q "$dst/plain/$s/"; done
	btrbk -c "$work/btrbk-inc.conf" --preserve resume >/dev/null
	ssh_parents
fi
# About 1 % changed: 5 of the 500 data files rewritten, a log line appended.
$xfer && python3 - "$src" "${send_svs[@]}" <<'PY'
import os, random, sys
top, svs = sys.argv[1], sys.argv[2:]
rnd = random.Random(8)
for sv in svs:
    for i in (3, 99, 200, 311, 487):
        with open(os.path.join(top, sv, "data", "f%05d" % i), "r+b") as f:
            f.write(rnd.randbytes(64 << 10))
    with open(os.path.join(top, sv, "small", "f00001"), "ab") as f:
        f.write(b"one more line\n")
PY
sync
for s in "${send_svs[@]}" @bulk; do btrfs -q subvolume snapshot -r "$src/$s" "$src/@snapshots/$s/$S"; done
for s in "${send_svs[@]}" @bulk; do btrfs -q subvolume snapshot -r "$src/@snapshots/$s/$S" "$src/btrbk/$s.$BS"; done
sync

# The rows. Between runs: what the run received is deleted and the cleaner
# waited for (untimed); the caches stay warm (the snapshots were just made).
unrecv() { # path... (the ones present)
	local p
	for p; do [ ! -e "$p" ] || btrfs -q subvolume delete "$p" >/dev/null; done
	btrfs -q filesystem sync "$dst" # the commit wakes the cleaner (else up to commit=30 s)
	btrfs subvolume sync "$dst" >/dev/null
	sync
}
inc_prep() {
	local s a=()
	for s in "${send_svs[@]}"; do a+=("$dst/ours-inc/$s/$S" "$dst/plain/$s/$S" "$dst/btrbk-inc/$s.$BS"); done
	unrecv "${a[@]}"
}
full_prep() { unrecv "$dst/ours-full/@bulk/$S" "$dst/plain/@bulk/$S" "$dst/btrbk-full/@bulk.$BS"; }
inc_ours() { "$bin/impermanence-send" "${scfg[@]}" --target inc; }
inc_plain() { local s; for s in "${send_svs[@]}"; do btrfs send -q -p "$src/@snapshots/$s/$P" "$src/@snapshots/$s/$S" | btrfs receive -q "$dst/plain/$s/" || return 1; done; }
inc_btrbk() { btrbk -c "$work/btrbk-inc.conf" --preserve resume; }
full_ours() { "$bin/impermanence-send" "${scfg[@]}" --target full; }
full_plain() { btrfs send -q "$src/@snapshots/@bulk/$S" | btrfs receive -q "$dst/plain/@bulk/"; }
full_btrbk() { btrbk -c "$work/btrbk-full.conf" --preserve resume; }
if want send; then
	echo "bench: send: 7 incrementals" >&2
	pair send-inc inc_prep inc_ours inc_plain
	pair send-inc-btrbk inc_prep inc_ours inc_btrbk
	echo "bench: send: full send of $SEND_MB MiB" >&2
	pair send-full full_prep full_ours full_plain
	pair send-full-btrbk full_prep full_ours full_btrbk
	full_prep
fi
ssh_rows
want send || return 0

echo "bench: send: a target holding $SEND_LIST snapshots" >&2
mkdir -p "$dst/ours-list"
printf '[[target]]\nname = "list"\nurl = "%s"\n%s\nsubvolumes = [%s]\n\n' "$dst/ours-list" "$keep" "$(printf '"%s",' "${send_svs[@]:0:5}" | sed 's/,$//')" > "$work/sendcfg/config.d/30-list.toml"
for s in "${send_svs[@]:0:5}"; do mkdir -p "$dst/ours-list/$s"; btrfs -q subvolume create "$dst/list-src-$s"; done
lbase=$(date -u -d "-$((SEND_LIST + 2)) hours" +%s)
seq 0 $((SEND_LIST - 1)) | xargs -P 8 -n 100 bash -c '
	svs=(@persist @var-log @var-lib-services @var-lib-caddy @nix)
	for i; do s=${svs[$((i % 5))]}; btrfs -q subvolume snapshot -r "'"$dst"'/list-src-$s" "'"$dst"'/ours-list/$s/$(date -u -d "@$(('"$lbase"' + i * 3600))" +%Y%m%dT%H%M%SZ)"; done' bash
sync
slist_ours() { "$bin/impermanence-send" list "${scfg[@]}" --target list | cat; }
slist_ref() { btrfs subvolume list "$dst" | cat; }
pair send-list nothing slist_ours slist_ref
