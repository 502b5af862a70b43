# Scenario 12: upgrades and the history of blanks over six boots.
# boot 1 (the image's blank): an "upgrade" (the file /vmtest-version = v1
#   and a unit file), committed with impermanence-provision --commit.
# boot 2 (trial of v1): the upgrade is there; the boot completes, so
#   server-impermanence-blank-good.service marks v1 good. Then a broken
#   upgrade: v2 whose default target is vmtest-broken.target, which starts
#   the vmtest runner but never reaches multi-user.target, so no boot of it
#   completes; committed.
# boots 3, 4 (trials of v2): v2 is there, the blank is not marked good.
# boot 5: the fallback to v1: /persist untouched, impermanence_blank_fallback
#   1, the fallback in the journal and the audit log.
# boot 6 (server-impermanence.blank=<the image's blank> from the host): the
#   root came from it, for this boot.
. ./lib.sh
rollback_record
metric uptime_ready "$(cat "$out/uptime")"
version=$(cat /vmtest-version 2>/dev/null || echo v0)
source=$(json_field source /run/server-impermanence/blank.json)
persist() { cat /persist/vmtest-blanks 2>/dev/null; }
# The trial count of the current blank in --list-blanks ("trial 1/2"), or "none".
trial() { impermanence-provision --list-blanks | awk '$1 == "@root-blank"' | grep -o 'trial [0-9]*/[0-9]*' || echo none; }
case $b in
1)
	eq s12.boot1-version "$version" v0
	echo kept > /persist/vmtest-blanks
	echo v1 > /vmtest-version
	check s12.commit-v1 impermanence-provision --commit
	impermanence-provision --list-blanks > "$out/blanks.txt"
	;;
2)
	eq s12.upgrade-kept "$version" v1
	eq s12.trial-source "$source" trial
	check s12.blank-good systemctl start server-impermanence-blank-good.service
	eq s12.no-trial-left "$(trial)" none
	check s12.good-logged sh -c 'journalctl -b MESSAGE_ID=1b012d3dfd3c456d9ba53990f99d2d5f -o cat | grep -q .'
	echo v2 > /vmtest-version
	cat > /etc/systemd/system/vmtest-broken.target <<'UNIT'
[Unit]
Description=vmtest: a default target that never reaches multi-user.target
Requires=basic.target
After=basic.target
Wants=vmtest-run.service
UNIT
	ln -sfn /etc/systemd/system/vmtest-broken.target /etc/systemd/system/default.target
	check s12.commit-v2 impermanence-provision --commit
	impermanence-provision --list-blanks > "$out/blanks.txt"
	;;
3 | 4)
	eq s12.broken-version "$version" v2
	eq s12.broken-source "$source" trial
	eq s12.multi-user-not-reached "$(systemctl is-active multi-user.target)" inactive
	eq s12.blank-good-not-run "$(systemctl is-active server-impermanence-blank-good.service)" inactive
	eq s12.trial-count "$(trial)" "trial $((b - 2))/2"
	;;
5)
	eq s12.fallback-version "$version" v1
	eq s12.fallback-source "$source" fallback
	eq s12.multi-user-reached "$(systemctl is-active multi-user.target)" active
	eq s12.persist-untouched "$(persist)" kept
	check s12.fallback-logged sh -c 'journalctl -b MESSAGE_ID=045365559ebb43938021307552197ef2 -o cat | grep -q "did not reach boot-complete.target in 2 trial boot"'
	check s12.fallback-audited grep -q '"action":"blank-fallback"' /var/log/server-impermanence/audit.jsonl
	systemctl start server-impermanence-exporter.service
	scrape_body > "$out/scrape.txt" 2>&1
	eq s12.metric-fallback "$(grep '^impermanence_blank_fallback{subvolume="@root"}' "$out/scrape.txt" | awk '{print $2}')" 1
	eq s12.metric-history "$(grep '^impermanence_blank_history{subvolume="@root"}' "$out/scrape.txt" | awk '{print $2}')" 2
	;;
6)
	eq s12.requested-version "$version" v0
	eq s12.requested-source "$source" request
	eq s12.persist-untouched-6 "$(persist)" kept
	check s12.request-logged sh -c 'journalctl -b MESSAGE_ID=9fef7de1bb6e43fd837d52f62294a7fd -o cat | grep -q .'
	;;
esac
