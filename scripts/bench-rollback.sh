# bench-rollback.sh: the rollback row of make bench (make bench-rollback runs
# it alone). Sourced by scripts/bench.sh, whose pair, drop, $work, $bin and
# cleanup it uses; not a script of its own.
#
# The whole initrd rollback, the real binary as server-impermanence-setup.service
# runs it (impermanence-rollback --config FILE, which mounts the top level
# itself), against scripts/rollback-recipe.sh, on a filesystem of their own
# with the default layout: a lived-in @root and 30 archives of ROLLBACK_FILES
# files each, 15 of them older than 30 days (by name for ours, by mtime for
# the recipe), one of those with a nested subvolume.
#
# The fixture is made once: one tree of ROLLBACK_FILES files (a subvolume),
# and the archives and @root as snapshots of it, each with 100 files of its
# own rewritten and a log of its own (archives of one root share most of
# their files: each boot starts from the same blank and installs the same
# system). Before every run (untimed) the previous run's archives and @root
# are deleted, fresh snapshots of the fixture put in their place (read-only
# archives for ours, as the helper leaves them; writable ones for the recipe,
# as its mv leaves them), the cleaner waited for and the caches dropped (a
# boot starts cold).
echo "bench: rollback: fixture of 30 archives of $ROLLBACK_FILES files" >&2
mk_loop_fs rb 16G
rb=$work/rb
"$bin/server-impermanence-generator" --print-default | sed -e "s|^device *=.*|device = \"$fsdev_rb\"|" > "$work/rollback.toml"
"$bin/impermanence-provision" --config "$work/rollback.toml" --mount "$rb" >/dev/null
mkdir "$rb/fixture"
btrfs -q subvolume create "$rb/fixture/base"
python3 - "$rb/fixture/base" "$ROLLBACK_FILES" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    if i % 1000 == 0:
        sub = os.path.join(d, "usr", "d%03d" % (i // 1000))
        os.makedirs(sub)
    with open(os.path.join(sub, str(i)), "w") as f:
        f.write("file %d of the system, %s\n" % (i, "x" * (i % 200)))
PY
rbnow=$(date +%s)
rb_names=()
for i in $(seq 0 29); do
	if [ "$i" -lt 15 ]; then age=$((31 + i)); else age=$((i - 14)); fi
	t=$((rbnow - age * 86400))
	rb_names+=("$(date -u -d "@$t" +%Y%m%dT%H%M%SZ)-$(printf %08x "$i")")
	rb_mtime[$i]=$t
done
# Each archive (and the live root, "root"): a snapshot of the tree with 100
# files and a log of its own.
for a in $(seq 0 29) root; do
	btrfs -q subvolume snapshot "$rb/fixture/base" "$rb/fixture/$a"
	for f in $(seq 0 99); do echo "changed in boot $a" > "$rb/fixture/$a/usr/d$(printf %03d $((f * 7 / 1000)))/$((f * 7))"; done
	mkdir -p "$rb/fixture/$a/var/log"
	seq 1 2000 | sed "s/^/boot $a line /" > "$rb/fixture/$a/var/log/messages"
	btrfs property set "$rb/fixture/$a" ro true
done
sync
rb_archives=$rb/old_roots/@root
rb_prep() { # ours|ref
	local i p
	if [ -d "$rb_archives" ]; then
		for p in "$rb_archives"/*; do
			[ -e "$p" ] || continue
			if [ -d "$p/var-lib-machines" ]; then
				btrfs property set "$p" ro false
				btrfs -q subvolume delete "$p/var-lib-machines" >/dev/null
			fi
			btrfs -q subvolume delete "$p" >/dev/null
		done
	fi
	mkdir -p "$rb_archives"
	btrfs -q subvolume delete "$rb/@root" >/dev/null
	for i in $(seq 0 29); do
		p=$rb_archives/${rb_names[$i]}
		btrfs -q subvolume snapshot "$rb/fixture/$i" "$p"
		if [ "$i" -eq 3 ]; then
			btrfs -q subvolume create "$p/var-lib-machines"
			cp -a "$rb/fixture/3/var/log" "$p/var-lib-machines/"
		fi
		touch -d "@${rb_mtime[$i]}" "$p"
		[ "$1" = ref ] || btrfs property set "$p" ro true
	done
	btrfs -q subvolume snapshot "$rb/fixture/root" "$rb/@root"
	btrfs -q filesystem sync "$rb" # the commit wakes the cleaner
	btrfs subvolume sync "$rb" >/dev/null
	drop
}
rb_ours() { "$bin/impermanence-rollback" --config "$work/rollback.toml"; }
rb_ref() { scripts/rollback-recipe.sh "$fsdev_rb" @root @root-blank; }
echo "bench: rollback" >&2
PAIRS=$ROLLBACK_PAIRS pair rollback rb_prep rb_ours rb_ref
